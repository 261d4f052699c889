/**
 * Local checks of bucket names and of the names anycloud builds resource names from, so that
 * `anycloud validate` catches a bad name before any cloud call (notes/reliability-tests.md #20:
 * `My_Bucket`, `xn--foo`, `goog-data`…). Each check returns every problem at once, as sentences a
 * user can act on; the caller adds the file position and profile.
 *
 * Sources:
 * - S3: "General purpose bucket naming rules", Amazon S3 User Guide (2025): 3–63 characters;
 *   lower-case letters, digits, dots, hyphens; begin and end with a letter or digit; no two
 *   adjacent dots; not an IP address; reserved prefixes `xn--`, `sthree-`, `amzn-s3-demo-`;
 *   reserved suffixes `-s3alias` (access point aliases), `--ol-s3` (Object Lambda aliases),
 *   `.mrap` (Multi-Region Access Points), `--x-s3` (directory buckets), `--table-s3` (S3 Tables).
 * - Azure: "Naming and referencing containers, blobs, and metadata" (Blob REST API): 3–63
 *   characters; lower-case letters, digits, hyphens; start and end with a letter or digit; every
 *   hyphen between letters or digits, so no two hyphens in a row.
 * - GCS: https://cloud.google.com/storage/docs/buckets#naming: lower-case letters, digits, `-`,
 *   `_`, `.`; start and end with a letter or digit; 3–63 characters, or up to 222 with dots where
 *   each dot-separated part is at most 63; not an IP address; no `goog` prefix; nothing that
 *   contains "google" or a close misspelling such as "g00gle".
 * - local: the bucket is the directory `<root>/buckets/NAME/` (SPEC §6), so NAME must be one
 *   plain path segment.
 */

/** The storage a bucket name is checked for. */
export type BucketCloud = 'aws' | 'azure' | 'gcp' | 'local'

/** The clouds a deployment id must be a valid bucket name on (a checkpoint bucket is named after it, on whichever lands). */
const ID_BUCKET_CLOUDS: readonly BucketCloud[] = ['gcp', 'aws', 'azure']

/** Whether `name` is a valid bucket name on every cloud (what a deployment id must be). */
export function validBucketNameEverywhere(name: string): boolean {
  return ID_BUCKET_CLOUDS.every((cloud) => bucketNameProblems(name, cloud).length === 0)
}

/** Longest project name: keeps `<project>-<profile>-<6 chars>` within a 63-character bucket name. */
export const PROJECT_NAME_MAX_LENGTH = 24
/** Longest profile name (same reason as {@link PROJECT_NAME_MAX_LENGTH}). */
export const PROFILE_NAME_MAX_LENGTH = 24
/** Length of the random part of a deployment id (SPEC §4: `<project>-<profile>-<6 random [a-z0-9]>`). */
export const DEPLOYMENT_ID_SUFFIX_LENGTH = 6
/** Longest deployment id: 24 + 1 + 24 + 1 + 6 = 56, within every cloud's 63-character bucket limit. */
export const DEPLOYMENT_ID_MAX_LENGTH = PROJECT_NAME_MAX_LENGTH + 1 + PROFILE_NAME_MAX_LENGTH + 1 + DEPLOYMENT_ID_SUFFIX_LENGTH
/** Bucket/container names: the common limit of S3, Azure and (dot-free) GCS. */
export const BUCKET_NAME_MAX_LENGTH = 63

const IP_ADDRESS = /^\d{1,3}(\.\d{1,3}){3}$/

/** Characters of `name` that `allowed` rejects, quoted and deduplicated: `'M', '_'`. */
function badCharacters(name: string, allowed: RegExp): string {
  const bad = [...new Set([...name].filter((c) => !allowed.test(c)))]
  return bad.map((c) => (c === ' ' ? "' ' (space)" : `'${c}'`)).join(', ')
}

/**
 * First and last characters are letters or digits. Upper case counts here on purpose: the
 * character-set message already reports it, and `My_Bucket` should not get two messages for `M`.
 * An empty name has its own length message.
 */
function startsAndEndsAlphanumeric(name: string): boolean {
  return name === '' || /^[A-Za-z0-9](.*[A-Za-z0-9])?$/s.test(name)
}

function lengthProblem(kind: string, name: string, min: number, max: number): string | undefined {
  if (name.length < min || name.length > max) {
    return `${kind} must be ${min} to ${max} characters long (this one has ${name.length})`
  }
  return undefined
}

/**
 * Why `name` cannot be a bucket (or, on Azure, a container; locally, a directory) on that cloud.
 * An empty list means the name is valid. Messages are sentences without the name in front, e.g.
 * `S3 bucket names must start and end with a lower-case letter or a digit`.
 */
export function bucketNameProblems(name: string, cloud: BucketCloud): string[] {
  switch (cloud) {
    case 'aws':
      return s3Problems(name)
    case 'azure':
      return azureContainerProblems(name)
    case 'gcp':
      return gcsProblems(name)
    case 'local':
      return localProblems(name)
    default:
      return assertNever(cloud)
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected cloud: ${String(value)}`)
}

function s3Problems(name: string): string[] {
  const kind = 'S3 bucket names'
  const problems: string[] = []
  const length = lengthProblem(kind, name, 3, 63)
  if (length) problems.push(length)
  if (/[^a-z0-9.-]/.test(name)) {
    problems.push(`${kind} may contain only lower-case letters, digits, dots and hyphens (not ${badCharacters(name, /[a-z0-9.-]/)})`)
  }
  if (!startsAndEndsAlphanumeric(name)) problems.push(`${kind} must start and end with a letter or a digit`)
  if (name.includes('..')) problems.push(`${kind} must not contain two dots in a row`)
  if (IP_ADDRESS.test(name)) problems.push(`${kind} must not look like an IP address`)
  for (const prefix of ['xn--', 'sthree-', 'amzn-s3-demo-']) {
    if (name.startsWith(prefix)) problems.push(`${kind} must not start with '${prefix}' (reserved by AWS)`)
  }
  for (const suffix of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3']) {
    if (name.endsWith(suffix)) problems.push(`${kind} must not end with '${suffix}' (reserved by AWS)`)
  }
  return problems
}

function azureContainerProblems(name: string): string[] {
  const kind = 'Azure container names'
  const problems: string[] = []
  const length = lengthProblem(kind, name, 3, 63)
  if (length) problems.push(length)
  if (/[^a-z0-9-]/.test(name)) {
    problems.push(`${kind} may contain only lower-case letters, digits and hyphens (not ${badCharacters(name, /[a-z0-9-]/)})`)
  }
  if (!startsAndEndsAlphanumeric(name)) problems.push(`${kind} must start and end with a letter or a digit`)
  if (name.includes('--')) problems.push(`${kind} must not contain two hyphens in a row`)
  return problems
}

/**
 * "google" and close misspellings, as GCS rejects them: o/0 and l/1/i and e/3 confusions and
 * doubled letters (`g00gle`, `googel`, `gooogle`, `goog1e`). Deliberately narrow, because a false
 * positive would block a name GCS accepts: words like "goggles" pass.
 */
const GOOGLE_LIKE = /g[o0]{2,}g+(?:[l1i]+[e3]|[e3][l1i])/

function gcsProblems(name: string): string[] {
  const kind = 'GCS bucket names'
  const problems: string[] = []
  if (name.includes('.')) {
    const length = lengthProblem(`${kind} with dots`, name, 3, 222)
    if (length) problems.push(length)
    const long = name.split('.').filter((part) => part.length > 63)
    if (long.length > 0) problems.push(`each dot-separated part of a GCS bucket name must be at most 63 characters long`)
    if (name.split('.').some((part) => part === '')) problems.push(`${kind} must not contain empty dot-separated parts ('..')`)
  } else {
    const length = lengthProblem(kind, name, 3, 63)
    if (length) problems.push(length)
  }
  if (/[^a-z0-9._-]/.test(name)) {
    problems.push(
      `${kind} may contain only lower-case letters, digits, hyphens, underscores and dots (not ${badCharacters(name, /[a-z0-9._-]/)})`,
    )
  }
  if (!startsAndEndsAlphanumeric(name)) problems.push(`${kind} must start and end with a letter or a digit`)
  if (IP_ADDRESS.test(name)) problems.push(`${kind} must not look like an IP address`)
  if (name.startsWith('goog')) problems.push(`${kind} must not start with 'goog' (reserved by Google)`)
  if (GOOGLE_LIKE.test(name)) problems.push(`${kind} must not contain 'google' or a close misspelling of it`)
  return problems
}

function localProblems(name: string): string[] {
  const kind = 'Local bucket names'
  const problems: string[] = []
  if (name === '.' || name === '..') return [`${kind} must not be '.' or '..' (they are not directories of their own)`]
  // NAME_MAX is 255 bytes on Linux, macOS and Windows; ASCII-only names make bytes = characters.
  const length = lengthProblem(kind, name, 1, 255)
  if (length) problems.push(length)
  if (/[/\\]/.test(name)) problems.push(`${kind} must be a single directory name, without '/' or '\\'`)
  if (/[^A-Za-z0-9._/\\-]/.test(name)) {
    problems.push(
      `${kind} may contain only letters, digits, dots, hyphens and underscores (not ${badCharacters(name, /[A-Za-z0-9._/\\-]/)})`,
    )
  }
  // A leading dot hides the directory; a leading hyphen reads as an option to rclone and shells.
  if (/^[.-]/.test(name)) problems.push(`${kind} must not start with '.' or '-'`)
  return problems
}

/** What a name inside resource names is: the file's `project` or a profile key. */
export type ResourceNameKind = 'project' | 'profile'

/**
 * Why a project or profile name cannot go into resource names (deployment ids
 * `<project>-<profile>-<6 chars>`, which name checkpoint buckets/containers, IAM roles, VMs).
 * Empty = valid. Rules: lower-case letters, digits and hyphens; starts with a letter; no trailing
 * hyphen and no two hyphens in a row (Azure container names forbid `--`, and the joining hyphen
 * would make one); at most 24 characters; no "google" (the id names a GCS bucket). For a
 * project, which starts the id, also none of the reserved bucket prefixes (`goog`, `sthree-`,
 * `amzn-s3-demo-`; `xn--` is already ruled out by the hyphen rules).
 */
export function resourceNameProblems(name: string, kind: ResourceNameKind = 'profile'): string[] {
  const label = kind === 'project' ? 'Project names' : 'Profile names'
  const max = kind === 'project' ? PROJECT_NAME_MAX_LENGTH : PROFILE_NAME_MAX_LENGTH
  const problems: string[] = []
  const length = lengthProblem(label, name, 1, max)
  if (length) problems.push(`${length}, so that deployment ids fit in a ${BUCKET_NAME_MAX_LENGTH}-character bucket name`)
  if (/[^a-z0-9-]/.test(name)) {
    problems.push(`${label} may contain only lower-case letters, digits and hyphens (not ${badCharacters(name, /[a-z0-9-]/)})`)
  }
  if (name !== '' && !/^[a-z]/.test(name)) problems.push(`${label} must start with a lower-case letter`)
  if (name.endsWith('-')) problems.push(`${label} must not end with a hyphen`)
  if (name.includes('--')) problems.push(`${label} must not contain two hyphens in a row`)
  if (GOOGLE_LIKE.test(name)) {
    problems.push(`${label} must not contain 'google' or a close misspelling of it (deployment ids name GCS buckets)`)
  }
  if (kind === 'project') {
    // The deployment id is `<project>-…`, so the project decides the id's prefix.
    const id = `${name}-`
    for (const prefix of ['goog', 'sthree-', 'amzn-s3-demo-']) {
      if (id.startsWith(prefix)) {
        problems.push(`${label} must not make deployment ids start with '${prefix}', which bucket names reserve`)
      }
    }
  }
  return problems
}
