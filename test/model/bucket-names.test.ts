import assert from 'node:assert/strict'

import {
  BUCKET_NAME_MAX_LENGTH,
  type BucketCloud,
  DEPLOYMENT_ID_MAX_LENGTH,
  DEPLOYMENT_ID_SUFFIX_LENGTH,
  PROFILE_NAME_MAX_LENGTH,
  PROJECT_NAME_MAX_LENGTH,
  bucketNameProblems,
  resourceNameProblems,
} from '../../src/model/bucket-names.js'

const CLOUDS: BucketCloud[] = ['aws', 'azure', 'gcp', 'local']

/**
 * One row per name: for each cloud, `true` = valid, or a pattern the problems must match
 * (the joined list, so one row can also require several problems).
 */
type Expectation = true | RegExp
type Row = [name: string, expect: Partial<Record<BucketCloud, Expectation>>]

const x63 = 'a'.repeat(63)
const x64 = 'a'.repeat(64)

const ROWS: Row[] = [
  // Valid everywhere.
  ['my-bucket', {aws: true, azure: true, gcp: true, local: true}],
  ['abc', {aws: true, azure: true, gcp: true, local: true}],
  ['123', {aws: true, azure: true, gcp: true, local: true}],
  ['acme-train-x7k2q9', {aws: true, azure: true, gcp: true, local: true}],
  [x63, {aws: true, azure: true, gcp: true, local: true}],

  // Length.
  ['ab', {aws: /3 to 63 characters long \(this one has 2\)/, azure: /3 to 63/, gcp: /3 to 63/, local: true}],
  ['a', {aws: /3 to 63/, azure: /3 to 63/, gcp: /3 to 63/, local: true}],
  ['', {aws: /has 0/, azure: /has 0/, gcp: /has 0/, local: /1 to 255/}],
  [x64, {aws: /has 64/, azure: /has 64/, gcp: /has 64/, local: true}],
  ['a'.repeat(256), {local: /1 to 255 characters long \(this one has 256\)/}],

  // Character set and case (notes/reliability-tests.md #20).
  [
    'My_Bucket',
    {
      aws: /only lower-case letters, digits, dots and hyphens \(not 'M', '_', 'B'\)/,
      azure: /only lower-case letters, digits and hyphens \(not 'M', '_', 'B'\)/,
      gcp: /only lower-case letters, digits, hyphens, underscores and dots \(not 'M', 'B'\)/,
      local: true,
    },
  ],
  ['my_bucket', {aws: /not '_'/, azure: /not '_'/, gcp: true, local: true}],
  ['my bucket', {aws: /' ' \(space\)/, azure: /space/, gcp: /space/, local: /space/}],
  ['bücket', {aws: /'ü'/, azure: /'ü'/, gcp: /'ü'/, local: /'ü'/}],
  ['my.bucket', {aws: true, azure: /not '\.'/, gcp: true, local: true}],

  // Start and end.
  ['-bucket', {aws: /start and end/, azure: /start and end/, gcp: /start and end/, local: /must not start with '\.' or '-'/}],
  ['bucket-', {aws: /start and end/, azure: /start and end/, gcp: /start and end/, local: true}],
  ['.bucket', {aws: /start and end/, azure: /start and end|not '\.'/, gcp: /start and end/, local: /must not start with '\.'/}],
  ['bucket.', {aws: /start and end/, gcp: /start and end/}],
  ['_bucket', {aws: /not '_'/, gcp: /start and end/, local: true}],
  ['bucket_', {gcp: /start and end/}],

  // Dots.
  ['my..bucket', {aws: /two dots in a row/, gcp: /empty dot-separated parts/}],
  ['a.b.c', {aws: true, gcp: true}],

  // IP addresses.
  ['192.168.1.1', {aws: /IP address/, gcp: /IP address/, azure: /not '\.'/, local: true}],
  ['10.0.0.255', {aws: /IP address/, gcp: /IP address/}],
  ['192.168.1.1a', {aws: true, gcp: true}],
  ['192.168.1', {aws: true, gcp: true}],

  // S3 reserved prefixes and suffixes.
  ['xn--foo', {aws: /must not start with 'xn--'/, azure: /two hyphens in a row/, gcp: true, local: true}],
  ['sthree-bucket', {aws: /must not start with 'sthree-'/, azure: true, gcp: true}],
  ['sthree-configurator', {aws: /'sthree-'/}],
  ['amzn-s3-demo-bucket', {aws: /'amzn-s3-demo-'/, gcp: true}],
  ['data-s3alias', {aws: /must not end with '-s3alias'/, gcp: true}],
  ['data--ol-s3', {aws: /must not end with '--ol-s3'/, azure: /two hyphens/}],
  ['data.mrap', {aws: /must not end with '\.mrap'/, gcp: true}],
  ['data--x-s3', {aws: /must not end with '--x-s3'/}],
  ['data--table-s3', {aws: /must not end with '--table-s3'/}],
  ['s3alias-data', {aws: true}],
  ['xnfoo', {aws: true}],

  // Azure containers.
  ['my--container', {azure: /two hyphens in a row/, aws: true, gcp: true}],
  ['a-b-c', {azure: true}],
  ['$root', {azure: /not '\$'/}],
  ['acmestorageaccount2025xyz', {azure: true}],

  // GCS: goog prefix, "google" and close misspellings.
  ['goog-data', {gcp: /must not start with 'goog'/, aws: true, azure: true, local: true}],
  ['googdata', {gcp: /'goog'/}],
  ['my-google-data', {gcp: /'google' or a close misspelling/, aws: true}],
  ['my-g00gle-data', {gcp: /close misspelling/}],
  ['my-googel-data', {gcp: /close misspelling/}],
  ['my-gooogle-data', {gcp: /close misspelling/}],
  ['my-goog1e-data', {gcp: /close misspelling/}],
  ['ski-goggles', {gcp: true}],
  ['googly-eyes', {gcp: /'goog'/}],
  ['my-googly-eyes', {gcp: true}],
  ['logo-go', {gcp: true}],

  // GCS: dotted names up to 222 characters, each part at most 63.
  [`${x63}.${x63}.${x63}.abc`, {gcp: true, aws: /has 195/}],
  [`${x63}.${x64}`, {gcp: /each dot-separated part .* at most 63/}],
  [[x63, x63, x63, 'a'.repeat(31)].join('.'), {gcp: /with dots must be 3 to 222 characters long \(this one has 223\)/}],
  [[x63, x63, x63, 'a'.repeat(30)].join('.'), {gcp: true}],

  // Local directories.
  ['.', {local: /must not be '\.' or '\.\.'/}],
  ['..', {local: /must not be '\.' or '\.\.'/}],
  ['a/b', {local: /single directory name/, aws: /not '\/'/}],
  ['a\\b', {local: /single directory name/}],
  ['../etc', {local: /single directory name/}],
  ['Data_Set.v2', {local: true}],
  ['data:set', {local: /not ':'/}],
  ['data*', {local: /not '\*'/}],
]

describe('bucket-names', () => {
  describe('bucketNameProblems', () => {
    for (const [name, expectations] of ROWS) {
      for (const cloud of CLOUDS) {
        const expected = expectations[cloud]
        if (expected === undefined) continue
        const label = name.length > 20 ? `${name.slice(0, 12)}…(${name.length})` : JSON.stringify(name)
        it(`${cloud}: ${label} ${expected === true ? 'is valid' : `→ ${expected.source}`}`, () => {
          const problems = bucketNameProblems(name, cloud)
          if (expected === true) assert.deepEqual(problems, [])
          else assert.match(problems.join('\n'), expected)
        })
      }
    }

    it('reports every problem at once', () => {
      const problems = bucketNameProblems('-My_Bucket..', 'aws')
      assert.equal(problems.length, 3, problems.join('\n'))
      assert.equal(bucketNameProblems('Goog_', 'gcp').length, 2)
      // Upper case is one character-set problem, not also a start/end problem.
      assert.equal(bucketNameProblems('My_Bucket', 'aws').length, 1)
      assert.equal(bucketNameProblems('Bucket', 'azure').length, 1)
    })

    it('names the kind of storage in each message', () => {
      assert.match(bucketNameProblems('A', 'aws')[0]!, /^S3 bucket names /)
      assert.match(bucketNameProblems('A', 'azure')[0]!, /^Azure container names /)
      assert.match(bucketNameProblems('A', 'gcp')[0]!, /^GCS bucket names /)
      assert.match(bucketNameProblems('a/b', 'local')[0]!, /^Local bucket names /)
    })
  })

  describe('resourceNameProblems', () => {
    const valid = ['acme-train', 'a', 'train', 'train-west', 'x1', 'a'.repeat(24), 'eval2']
    for (const name of valid) {
      it(`accepts ${JSON.stringify(name)}`, () => {
        assert.deepEqual(resourceNameProblems(name, 'project'), [])
        assert.deepEqual(resourceNameProblems(name, 'profile'), [])
        assert.deepEqual(resourceNameProblems(name), [])
      })
    }

    const invalid: Array<[string, RegExp]> = [
      ['', /1 to 24 characters long \(this one has 0\)/],
      ['a'.repeat(25), /1 to 24 characters long \(this one has 25\).*63-character bucket name/],
      ['Train', /only lower-case letters, digits and hyphens \(not 'T'\)/],
      ['train_west', /not '_'/],
      ['train.west', /not '\.'/],
      ['1train', /must start with a lower-case letter/],
      ['-train', /must start with a lower-case letter/],
      ['train-', /must not end with a hyphen/],
      ['train--west', /two hyphens in a row/],
      ['my-google-stuff', /'google'/],
    ]
    for (const [name, pattern] of invalid) {
      it(`rejects ${JSON.stringify(name)}`, () => {
        assert.match(resourceNameProblems(name, 'project').join('\n'), pattern)
        assert.match(resourceNameProblems(name, 'profile').join('\n'), pattern)
      })
    }

    it('words messages for projects and profiles', () => {
      assert.match(resourceNameProblems('Train', 'project')[0]!, /^Project names /)
      assert.match(resourceNameProblems('Train', 'profile')[0]!, /^Profile names /)
    })

    it('keeps projects from giving deployment ids a reserved bucket prefix', () => {
      assert.match(resourceNameProblems('googly', 'project').join('\n'), /'goog'/)
      assert.match(resourceNameProblems('goog', 'project').join('\n'), /'goog'/)
      assert.match(resourceNameProblems('sthree', 'project').join('\n'), /'sthree-'/)
      assert.match(resourceNameProblems('sthree-ml', 'project').join('\n'), /'sthree-'/)
      assert.match(resourceNameProblems('amzn-s3-demo', 'project').join('\n'), /'amzn-s3-demo-'/)
      // Only the project starts the id; a profile may be called so.
      assert.deepEqual(resourceNameProblems('googly', 'profile'), [])
      assert.deepEqual(resourceNameProblems('sthree', 'profile'), [])
      assert.deepEqual(resourceNameProblems('sthreex', 'project'), [])
    })
  })

  describe('limits', () => {
    it('lets the longest deployment id fit a bucket name', () => {
      assert.equal(PROJECT_NAME_MAX_LENGTH, 24)
      assert.equal(PROFILE_NAME_MAX_LENGTH, 24)
      assert.equal(DEPLOYMENT_ID_SUFFIX_LENGTH, 6)
      assert.equal(DEPLOYMENT_ID_MAX_LENGTH, 56)
      assert.ok(DEPLOYMENT_ID_MAX_LENGTH <= BUCKET_NAME_MAX_LENGTH)
    })

    it('makes every valid project/profile pair a valid bucket on every cloud', () => {
      const projects = ['p'.repeat(PROJECT_NAME_MAX_LENGTH), 'acme-train', 'a', 'x1-y2']
      const profiles = ['q'.repeat(PROFILE_NAME_MAX_LENGTH), 'train', 'b', 'eval-2']
      for (const project of projects) {
        assert.deepEqual(resourceNameProblems(project, 'project'), [])
        for (const profile of profiles) {
          assert.deepEqual(resourceNameProblems(profile, 'profile'), [])
          for (const suffix of ['000000', 'zzzzzz', 'a1b2c3']) {
            const id = `${project}-${profile}-${suffix}`
            assert.ok(id.length <= DEPLOYMENT_ID_MAX_LENGTH)
            for (const cloud of CLOUDS) assert.deepEqual(bucketNameProblems(id, cloud), [], `${cloud}: ${id}`)
          }
        }
      }
    })
  })
})
