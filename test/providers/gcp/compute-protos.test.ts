/**
 * The compute clients' protobuf definitions cut to our services (src/providers/gcp/compute-protos.ts)
 * are, for every method of every service we use, the same as the package's whole protos.json: the
 * service, each request and response message and every type their fields reach, compared as
 * protobuf.js reads them. A client of ours is then created from the module cache's cut copy.
 */
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'

import {COMPUTE_CLIENTS} from '../../../src/providers/gcp/clients.js'
import {preloadComputeProtos, pruneComputeProtos} from '../../../src/providers/gcp/compute-protos.js'

const requireHere = createRequire(import.meta.url)
const PROTOS = requireHere.resolve('@google-cloud/compute/build/protos/protos.json')
// protobuf.js as google-gax (the clients' runtime) has it.
const protobuf = createRequire(requireHere.resolve('google-gax'))('protobufjs') as typeof import('protobufjs')
const SERVICES = COMPUTE_CLIENTS.map(([, name]) => name.replace(/Client$/, ''))

type Reflected = {toJSON(): unknown; fullName: string}

describe('gcp compute clients: protobuf definitions cut to the services anycloud uses', function () {
  this.timeout(120_000)
  const full = JSON.parse(readFileSync(PROTOS, 'utf8')) as Parameters<typeof pruneComputeProtos>[0]

  it('keep every service we use and every type its methods reach, as the whole file has them, and little else', () => {
    const cut = pruneComputeProtos(full, SERVICES)
    const whole = protobuf.Root.fromJSON(full)
    const small = protobuf.Root.fromJSON(cut)
    const compared = new Set<string>()
    const same = (a: Reflected, b: Reflected) => {
      assert.equal(a.fullName, b.fullName)
      // As plain JSON: protobuf.js builds these objects on prototypes of its own.
      assert.deepEqual(JSON.parse(JSON.stringify(a.toJSON())), JSON.parse(JSON.stringify(b.toJSON())), a.fullName)
    }
    const walk = (a: protobuf.Type | protobuf.Enum, b: protobuf.Type | protobuf.Enum) => {
      if (compared.has(a.fullName)) return
      compared.add(a.fullName)
      same(a, b)
      if (!(a instanceof protobuf.Type)) return
      for (const f of a.fieldsArray) {
        const g = (b as protobuf.Type).fields[f.name]!
        f.resolve()
        g.resolve()
        assert.equal(Boolean(f.resolvedType), Boolean(g.resolvedType), f.fullName)
        if (f.resolvedType) walk(f.resolvedType, g.resolvedType!)
      }
    }
    let methods = 0
    for (const name of SERVICES) {
      const a = small.lookupService(`google.cloud.compute.v1.${name}`)
      const b = whole.lookupService(`google.cloud.compute.v1.${name}`)
      same(a, b)
      for (const m of a.methodsArray) {
        const n = b.methods[m.name]!
        m.resolve()
        n.resolve()
        walk(m.resolvedRequestType!, n.resolvedRequestType!)
        walk(m.resolvedResponseType!, n.resolvedResponseType!)
        methods++
      }
    }
    assert.ok(methods > 30, `${methods} methods compared`)
    const members = (root: typeof cut) => Object.keys(root.nested!.google!.nested!.cloud!.nested!.compute!.nested!.v1!.nested!).length
    assert.ok(members(cut) < members(full) / 5, `kept ${members(cut)} of ${members(full)}`)
    // Outside the compute namespace nothing is cut.
    assert.deepEqual(Object.keys(cut.nested!.google!.nested!), Object.keys(full.nested!.google!.nested!))
  })

  it('a client created after the preload reads the cut copy from the module cache', async () => {
    preloadComputeProtos(SERVICES)
    const cached = requireHere(PROTOS) as typeof full
    assert.deepEqual(cached, pruneComputeProtos(full, SERVICES))
    const {RegionsClient} = requireHere('@google-cloud/compute/build/src/v1/regions_client.js') as {RegionsClient: new (o: object) => {initialize(): Promise<unknown>; close(): Promise<void>}}
    const client = new RegionsClient({fallback: true, projectId: 'p', apiEndpoint: '127.0.0.1', port: 9, protocol: 'http', authClient: {getRequestHeaders: async () => new Headers()}})
    await client.initialize()
    await client.close()
  })
})
