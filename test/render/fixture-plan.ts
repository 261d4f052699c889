import type {Change, Plan} from '../../src/engine/plan.js'
import {sortChanges, summarize} from '../../src/engine/plan.js'

type ChangeInput = Omit<Change, 'profile' | 'kind' | 'role' | 'credential' | 'provider' | 'name' | 'dependsOn'> & Partial<Change>

/** A change with the boring fields derived from its address. */
export function change(c: ChangeInput): Change {
  const [profile, kind, role] = c.address.split('.')
  return {
    profile,
    kind: kind as Change['kind'],
    ...(role ? {role: role as Change['role']} : {}),
    credential: 'aws-prod',
    provider: 'aws',
    name: kind === 'bucket' ? `${profile}-${role}` : `acme-${profile}-x7k2q9`,
    dependsOn: [],
    ...c,
  }
}

/**
 * A fixed plan with every action, two profiles (one finished), a sensitive env value and a
 * diagnostic: the golden files pin how it renders.
 */
export function fixedPlan(): Plan {
  const changes = sortChanges([
    change({address: 'train.bucket.input', action: 'read', reason: "input bucket 'training-data' exists on aws-prod", before: null, after: {name: 'training-data', role: 'input'}, name: 'training-data'}),
    change({address: 'train.bucket.output', action: 'create', reason: "output bucket 'results' does not exist on aws-prod: it will be created", before: null, after: {name: 'results', role: 'output', region: 'us-east-1'}, name: 'results'}),
    change({address: 'train.bucket.checkpoint', action: 'no-op', reason: 'up to date', before: {name: 'acme-train-x7k2q9', role: 'checkpoint', region: 'us-east-1', persist: false}, after: {name: 'acme-train-x7k2q9', role: 'checkpoint', region: 'us-east-1', persist: false}, name: 'acme-train-x7k2q9'}),
    change({address: 'train.identity', action: 'update', reason: 'buckets changed', before: {buckets: {input: 'training-data'}}, after: {buckets: {input: 'training-data', output: 'results'}}, dependsOn: ['train.bucket.output']}),
    change({address: 'train.vm', action: 'replace', reason: 'vmType changed: forces replacement', before: {region: 'us-east-1', spot: true, vmType: 'p3.2xlarge'}, after: {region: 'us-east-1', spot: true, vmType: 'p4d.24xlarge'}, dependsOn: ['train.identity']}),
    change({address: 'train.bootstrap', action: 'replace', reason: 'its VM is being created: the machine must be bootstrapped again', before: {hash: '0123456789abcdef'}, after: {hash: 'fedcba9876543210'}, dependsOn: ['train.vm', 'train.bucket.output']}),
    change({
      address: 'train.workload',
      action: 'replace',
      reason: 'its VM is being created: the workload starts on the new machine',
      before: {runtime: 'docker', image: 'ghcr.io/acme/train:1.0', command: ['python', 'train.py'], env: {API_TOKEN: '(sensitive):1a2b3c4d'}, specHash: 'aaaaaaaaaaaaaaaa'},
      after: {runtime: 'docker', image: 'ghcr.io/acme/train:1.1', command: ['python', 'train.py'], env: {API_TOKEN: '(sensitive):5e6f7a8b'}, specHash: 'bbbbbbbbbbbbbbbb'},
      dependsOn: ['train.bootstrap'],
    }),
    change({address: 'eval.bucket.checkpoint', action: 'delete', reason: 'workload completed (exit 0): checkpoint bucket deleted (persistBucket is off)', before: {name: 'acme-eval-p0q1r2', role: 'checkpoint'}, after: null, credential: 'gcp-prod', provider: 'gcp', name: 'acme-eval-p0q1r2'}),
    change({address: 'eval.vm', action: 'delete', reason: 'workload completed (exit 0): tearing down (persist is off)', before: {region: 'us-central1', spot: true}, after: null, credential: 'gcp-prod', provider: 'gcp', name: 'acme-eval-p0q1r2'}),
    change({address: 'eval.workload', action: 'no-op', reason: 'workload completed (exit 0)', before: {runtime: 'docker'}, after: {runtime: 'docker'}, credential: 'gcp-prod', provider: 'gcp', name: 'acme-eval-p0q1r2', observed: {phase: 'completed', exitCode: 0}}),
    change({address: 'serve.workload', action: 'create', reason: 'new deployment', before: null, after: {runtime: 'process', command: 'python -m http.server', env: {}}, credential: 'laptop', provider: 'local', name: 'acme-serve-abc123', dependsOn: ['serve.bootstrap']}),
  ])
  return {
    formatVersion: '1',
    state: {lineage: '6f1d2c3b-0a9e-4b8c-9d7e-112233445566', serial: 7},
    profiles: {
      eval: {deploymentId: 'acme-eval-p0q1r2', placement: {credential: 'gcp-prod', provider: 'gcp', region: 'us-central1', zone: 'us-central1-a', spot: true}, phase: 'done'},
      serve: {deploymentId: 'acme-serve-abc123', placement: {credential: 'laptop', provider: 'local', region: 'local', spot: false}, phase: 'run'},
      train: {deploymentId: 'acme-train-x7k2q9', placement: {credential: 'aws-prod', provider: 'aws', region: 'us-east-1', vmType: 'p4d.24xlarge', spot: true}, phase: 'run'},
    },
    changes,
    summary: summarize(changes),
    diagnostics: [{severity: 'warning', profile: 'train', message: 'spot capacity for p4d.24xlarge is often short in us-east-1'}],
    scope: ['eval', 'serve', 'train'],
  }
}
