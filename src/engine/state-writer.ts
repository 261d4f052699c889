import type {StateDocument, StateStore} from '../state/types.js'
import {emptyState} from '../state/index.js'

/**
 * Holds the run's copy of the state and saves it after every resource operation, one write at a
 * time (operations finish concurrently; writes never interleave).
 */
export class StateWriter {
  private chain: Promise<void> = Promise.resolve()
  doc: StateDocument

  constructor(private readonly store: StateStore, current: StateDocument | undefined, project: string) {
    this.doc = current ? structuredClone(current) : emptyState(project)
  }

  /** Applies `change` to the in-memory state, then persists it (serial + 1). */
  update(change: (doc: StateDocument) => void): Promise<void> {
    change(this.doc)
    const run = async () => {
      this.doc.serial += 1
      await this.store.write(structuredClone(this.doc))
    }
    this.chain = this.chain.then(run, run)
    return this.chain
  }

  flush(): Promise<void> {
    return this.chain
  }
}
