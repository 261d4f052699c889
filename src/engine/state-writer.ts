import {saveErroredState} from '../state/acquire.js'
import type {StateDocument, StateStore} from '../state/types.js'
import {emptyState} from '../state/index.js'

/**
 * Holds the run's copy of the state and saves it after every resource operation, one write at a
 * time (operations finish concurrently; writes never interleave).
 */
export class StateWriter {
  private chain: Promise<void> = Promise.resolve()
  /** The error of the last write, cleared by a later successful one. */
  private failure: unknown
  doc: StateDocument

  constructor(private readonly store: StateStore, current: StateDocument | undefined, project: string, lineage?: string) {
    this.doc = current ? structuredClone(current) : emptyState(project, lineage)
  }

  /** Applies `change` to the in-memory state, then persists it (serial + 1). */
  update(change: (doc: StateDocument) => void): Promise<void> {
    change(this.doc)
    const run = async () => {
      this.doc.serial += 1
      try {
        await this.store.write(structuredClone(this.doc))
        this.failure = undefined
      } catch (error) {
        this.failure = error
        throw error
      }
    }
    this.chain = this.chain.then(run, run)
    return this.chain
  }

  /**
   * Waits for the writes in flight. When the last one failed, the run's state goes to the
   * errored-state file and the error says how to push it (SPEC §7).
   */
  async flush(): Promise<void> {
    await this.chain.catch(() => undefined)
    if (this.failure !== undefined) throw saveErroredState(this.store, this.doc, this.failure)
  }
}
