/**
 * GPU names anycloud understands in `gpuType`, and the instance types that carry them on each
 * cloud. `gpuType: a100:8` becomes `p4d.24xlarge` on AWS, `Standard_ND96asr_v4` on Azure and
 * `a2-highgpu-8g` on GCP (reference: anycloud-cloud-config.txt, "GPU Type vs VM Type").
 *
 * Pure data plus lookups, no SDK imports: `anycloud validate` loads it.
 *
 * Sources:
 * - AWS: the EC2 accelerated-computing instance pages (P6, P5/P5e/P5en, P4d/P4de, G6e, G6, G5,
 *   G4dn, P3, P2). p5.4xlarge is the single-H100 size added in 2025.
 * - Azure: notes/azure-provider.md §6 (Microsoft size pages, some marked unverified there); the
 *   fractional A10 sizes (NV6/12/18ads_A10_v5: 1/6, 1/3, 1/2 of a GPU) are left out because a
 *   whole-GPU count cannot express them; Azure has no L40S, L4 or A10G VM series.
 * - GCP: notes/gcp-provider.md §6.1 (A2/A3/G2 from SkyPilot's catalog) and §6.2 (N1 with attached
 *   T4/V100/P100/P4 and Google's per-count vCPU caps); A3-ultra (H200) and A4 (B200) from the GCP
 *   accelerator-optimized machine page. K80 is gone from GCP (end of support 2024) and Azure.
 *
 * The tables are a fallback for planning offline: availability is per region and zone, and the
 * providers confirm at plan time (DescribeInstanceTypeOfferings, resourceSkus, aggregatedList).
 */

import type {CloudProvider} from './continents.js'
import {editDistance} from './did-you-mean.js'

/** A GPU model anycloud knows by name. */
export interface GpuInfo {
  /** Canonical lower-case name used in `gpuType`: `a100-80gb`. */
  readonly name: string
  /** Vendor name for humans: `NVIDIA A100 80GB`. */
  readonly displayName: string
  /** Nominal memory per GPU, GB. */
  readonly memoryGb: number
  /** Other spellings accepted in `gpuType` (lower case). */
  readonly aliases: readonly string[]
  /** GCP accelerator type name (quota metrics, `acceleratorTypes` filters), where GCP has it. */
  readonly gcpAcceleratorType?: string
}

/** One instance type (VM size, machine type) that carries a given GPU. */
export interface GpuOffering {
  /** `p4d.24xlarge`, `Standard_ND96asr_v4`, `a2-highgpu-8g`, or for GCP N1 the host `n1-standard-8`. */
  readonly instanceType: string
  /** Whole GPUs the instance has. */
  readonly gpuCount: number
  /** vCPUs of the instance; used to pick the smallest among equal GPU counts. */
  readonly vcpus: number
  /**
   * GCP N1 only: the GPUs are attached to the host as `guestAccelerators` with this type and count.
   * Absent for machine types with built-in GPUs (A2, A3, A4, G2), which must not set them.
   */
  readonly attachedAccelerator?: {readonly type: string; readonly count: number}
}

/** A parsed `gpuType`. */
export interface GpuRequest {
  /** Canonical GPU name (aliases resolved). */
  readonly name: string
  /** Wanted GPUs, or `all` for the biggest instance of that GPU. */
  readonly count: number | 'all'
  /** False when the user wrote only the name (`a100`), which means one GPU. */
  readonly countSpecified: boolean
}

/** What {@link parseGpuType} returns: a request, or a message saying what is wrong. */
export type GpuTypeParseResult = {readonly ok: true; readonly value: GpuRequest} | {readonly ok: false; readonly error: string}

/** What {@link resolveGpuInstance} picked. */
export type GpuInstance = GpuOffering

interface CatalogEntry {
  readonly info: GpuInfo
  readonly offerings: Readonly<Partial<Record<CloudProvider, readonly GpuOffering[]>>>
}

const o = (instanceType: string, gpuCount: number, vcpus: number): GpuOffering => Object.freeze({instanceType, gpuCount, vcpus})

/** GCP N1 host with attached GPUs. */
const n1 = (vcpus: number, type: string, count: number): GpuOffering =>
  Object.freeze({instanceType: `n1-standard-${vcpus}`, gpuCount: count, vcpus, attachedAccelerator: Object.freeze({type, count})})

/** AWS G-family sizes: 1 GPU up to 16xlarge, 4 at 12x/24x, 8 at 48x (G6e, G6, G5 share the layout). */
function awsGFamily(family: string): GpuOffering[] {
  return [
    o(`${family}.xlarge`, 1, 4),
    o(`${family}.2xlarge`, 1, 8),
    o(`${family}.4xlarge`, 1, 16),
    o(`${family}.8xlarge`, 1, 32),
    o(`${family}.16xlarge`, 1, 64),
    o(`${family}.12xlarge`, 4, 48),
    o(`${family}.24xlarge`, 4, 96),
    o(`${family}.48xlarge`, 8, 192),
  ]
}

/**
 * Per-count limits for GPUs attached to N1 hosts: allowed counts and the largest host (vCPUs)
 * each count permits (notes/gcp-provider.md §6.2, mirroring SkyPilot's
 * `_NUM_ACC_TO_MAX_CPU_AND_MEMORY`). Exported so tests and the GCP provider check hosts against it.
 */
export const GCP_N1_ACCELERATOR_LIMITS: Readonly<Record<string, Readonly<Record<number, {maxVcpus: number; maxMemoryGb: number}>>>> = {
  'nvidia-tesla-t4': {1: {maxVcpus: 48, maxMemoryGb: 312}, 2: {maxVcpus: 48, maxMemoryGb: 312}, 4: {maxVcpus: 96, maxMemoryGb: 624}},
  'nvidia-tesla-v100': {
    1: {maxVcpus: 12, maxMemoryGb: 78},
    2: {maxVcpus: 24, maxMemoryGb: 156},
    4: {maxVcpus: 48, maxMemoryGb: 312},
    8: {maxVcpus: 96, maxMemoryGb: 624},
  },
  'nvidia-tesla-p100': {1: {maxVcpus: 16, maxMemoryGb: 104}, 2: {maxVcpus: 32, maxMemoryGb: 208}, 4: {maxVcpus: 96, maxMemoryGb: 624}},
  'nvidia-tesla-p4': {1: {maxVcpus: 24, maxMemoryGb: 156}, 2: {maxVcpus: 48, maxMemoryGb: 312}, 4: {maxVcpus: 96, maxMemoryGb: 624}},
}

/*
 * Offerings are listed in preference order: among instances with the same GPU count and vCPUs,
 * the first one wins. N1 hosts use n1-standard sizes (1, 2, 4, 8, 16, 32, 64, 96 vCPUs): 4 vCPUs
 * per T4/P4 and 8 per V100/P100, within the caps above (a deliberate, modest default; users who
 * want another host set vmType).
 */
const CATALOG: readonly CatalogEntry[] = [
  {
    info: {name: 'b200', displayName: 'NVIDIA B200', memoryGb: 180, aliases: [], gcpAcceleratorType: 'nvidia-b200'},
    offerings: {aws: [o('p6-b200.48xlarge', 8, 192)], gcp: [o('a4-highgpu-8g', 8, 224)]},
  },
  {
    info: {name: 'h200', displayName: 'NVIDIA H200 141GB', memoryGb: 141, aliases: [], gcpAcceleratorType: 'nvidia-h200-141gb'},
    offerings: {
      aws: [o('p5en.48xlarge', 8, 192), o('p5e.48xlarge', 8, 192)],
      azure: [o('Standard_ND96isr_H200_v5', 8, 96)],
      gcp: [o('a3-ultragpu-8g', 8, 224)],
    },
  },
  {
    info: {name: 'h100', displayName: 'NVIDIA H100 80GB', memoryGb: 80, aliases: ['h100-80gb'], gcpAcceleratorType: 'nvidia-h100-80gb'},
    offerings: {
      aws: [o('p5.4xlarge', 1, 16), o('p5.48xlarge', 8, 192)],
      // NC H100 v5 carries H100 NVL (94 GB), ND H100 v5 the SXM part (80 GB); both are "h100".
      azure: [o('Standard_NC40ads_H100_v5', 1, 40), o('Standard_NC80adis_H100_v5', 2, 80), o('Standard_ND96isr_H100_v5', 8, 96)],
      gcp: [o('a3-highgpu-1g', 1, 26), o('a3-highgpu-2g', 2, 52), o('a3-highgpu-4g', 4, 104), o('a3-highgpu-8g', 8, 208)],
    },
  },
  {
    info: {name: 'a100', displayName: 'NVIDIA A100 40GB', memoryGb: 40, aliases: ['a100-40gb'], gcpAcceleratorType: 'nvidia-tesla-a100'},
    offerings: {
      aws: [o('p4d.24xlarge', 8, 96)],
      // Azure has no 1-GPU A100 40GB size.
      azure: [o('Standard_ND96asr_v4', 8, 96)],
      gcp: [
        o('a2-highgpu-1g', 1, 12),
        o('a2-highgpu-2g', 2, 24),
        o('a2-highgpu-4g', 4, 48),
        o('a2-highgpu-8g', 8, 96),
        o('a2-megagpu-16g', 16, 96),
      ],
    },
  },
  {
    info: {name: 'a100-80gb', displayName: 'NVIDIA A100 80GB', memoryGb: 80, aliases: [], gcpAcceleratorType: 'nvidia-a100-80gb'},
    offerings: {
      aws: [o('p4de.24xlarge', 8, 96)],
      azure: [
        o('Standard_NC24ads_A100_v4', 1, 24),
        o('Standard_NC48ads_A100_v4', 2, 48),
        o('Standard_NC96ads_A100_v4', 4, 96),
        o('Standard_ND96amsr_A100_v4', 8, 96),
      ],
      gcp: [o('a2-ultragpu-1g', 1, 12), o('a2-ultragpu-2g', 2, 24), o('a2-ultragpu-4g', 4, 48), o('a2-ultragpu-8g', 8, 96)],
    },
  },
  {
    info: {name: 'mi300x', displayName: 'AMD Instinct MI300X', memoryGb: 192, aliases: []},
    offerings: {azure: [o('Standard_ND96isr_MI300X_v5', 8, 96)]},
  },
  {
    info: {name: 'l40s', displayName: 'NVIDIA L40S', memoryGb: 48, aliases: []},
    // Azure: no L40S series (notes/azure-provider.md §6); GCP: none either.
    offerings: {aws: awsGFamily('g6e')},
  },
  {
    info: {name: 'l4', displayName: 'NVIDIA L4', memoryGb: 24, aliases: [], gcpAcceleratorType: 'nvidia-l4'},
    offerings: {
      aws: awsGFamily('g6'),
      gcp: [
        o('g2-standard-4', 1, 4),
        o('g2-standard-8', 1, 8),
        o('g2-standard-12', 1, 12),
        o('g2-standard-16', 1, 16),
        o('g2-standard-32', 1, 32),
        o('g2-standard-24', 2, 24),
        o('g2-standard-48', 4, 48),
        o('g2-standard-96', 8, 96),
      ],
    },
  },
  {
    info: {name: 'a10g', displayName: 'NVIDIA A10G', memoryGb: 24, aliases: []},
    // The A10G is AWS's variant of the A10; only G5 has it.
    offerings: {aws: awsGFamily('g5')},
  },
  {
    info: {name: 'a10', displayName: 'NVIDIA A10', memoryGb: 24, aliases: []},
    // Whole-GPU NVadsA10 v5 sizes only; the brief maps a10:1 to NV36ads.
    offerings: {
      azure: [o('Standard_NV36ads_A10_v5', 1, 36), o('Standard_NV36adms_A10_v5', 1, 36), o('Standard_NV72ads_A10_v5', 2, 72)],
    },
  },
  {
    info: {name: 't4', displayName: 'NVIDIA T4', memoryGb: 16, aliases: [], gcpAcceleratorType: 'nvidia-tesla-t4'},
    offerings: {
      aws: [
        o('g4dn.xlarge', 1, 4),
        o('g4dn.2xlarge', 1, 8),
        o('g4dn.4xlarge', 1, 16),
        o('g4dn.8xlarge', 1, 32),
        o('g4dn.16xlarge', 1, 64),
        o('g4dn.12xlarge', 4, 48),
        o('g4dn.metal', 8, 96),
      ],
      azure: [
        o('Standard_NC4as_T4_v3', 1, 4),
        o('Standard_NC8as_T4_v3', 1, 8),
        o('Standard_NC16as_T4_v3', 1, 16),
        o('Standard_NC64as_T4_v3', 4, 64),
      ],
      gcp: [n1(4, 'nvidia-tesla-t4', 1), n1(8, 'nvidia-tesla-t4', 2), n1(16, 'nvidia-tesla-t4', 4)],
    },
  },
  {
    info: {name: 'v100', displayName: 'NVIDIA V100', memoryGb: 16, aliases: [], gcpAcceleratorType: 'nvidia-tesla-v100'},
    offerings: {
      // p3dn.24xlarge has the 32 GB part; listed after p3.16xlarge so v100:8 picks the common one.
      aws: [o('p3.2xlarge', 1, 8), o('p3.8xlarge', 4, 32), o('p3.16xlarge', 8, 64), o('p3dn.24xlarge', 8, 96)],
      // NCv3/NDv2 are legacy on Azure (retirement announced); few regions still have them.
      azure: [
        o('Standard_NC6s_v3', 1, 6),
        o('Standard_NC12s_v3', 2, 12),
        o('Standard_NC24s_v3', 4, 24),
        o('Standard_NC24rs_v3', 4, 24),
        o('Standard_ND40rs_v2', 8, 40),
      ],
      gcp: [
        n1(8, 'nvidia-tesla-v100', 1),
        n1(16, 'nvidia-tesla-v100', 2),
        n1(32, 'nvidia-tesla-v100', 4),
        n1(64, 'nvidia-tesla-v100', 8),
      ],
    },
  },
  {
    info: {name: 'p100', displayName: 'NVIDIA P100', memoryGb: 16, aliases: [], gcpAcceleratorType: 'nvidia-tesla-p100'},
    offerings: {gcp: [n1(8, 'nvidia-tesla-p100', 1), n1(16, 'nvidia-tesla-p100', 2), n1(32, 'nvidia-tesla-p100', 4)]},
  },
  {
    info: {name: 'p4', displayName: 'NVIDIA P4', memoryGb: 8, aliases: [], gcpAcceleratorType: 'nvidia-tesla-p4'},
    offerings: {gcp: [n1(4, 'nvidia-tesla-p4', 1), n1(8, 'nvidia-tesla-p4', 2), n1(16, 'nvidia-tesla-p4', 4)]},
  },
  {
    info: {name: 'k80', displayName: 'NVIDIA K80', memoryGb: 12, aliases: []},
    // Legacy: only AWS P2 is left, and it is being retired.
    offerings: {aws: [o('p2.xlarge', 1, 4), o('p2.8xlarge', 8, 32), o('p2.16xlarge', 16, 64)]},
  },
  {
    info: {name: 'a6000', displayName: 'NVIDIA RTX A6000', memoryGb: 48, aliases: ['rtx-a6000', 'rtxa6000']},
    // Known so `ssh` hosts and GPU clouds can name it; none of AWS, Azure, GCP offers it.
    offerings: {},
  },
]

const BY_NAME: ReadonlyMap<string, CatalogEntry> = new Map(
  CATALOG.flatMap((entry) => [entry.info.name, ...entry.info.aliases].map((n) => [n, entry] as const)),
)

/** Canonical GPU names, in catalog order (newest/largest first). Aliases are not included. */
export function knownGpuNames(): string[] {
  return CATALOG.map((e) => e.info.name)
}

/** The GPU for a name or alias (case-insensitive), or undefined. */
export function gpuInfo(name: string): GpuInfo | undefined {
  return BY_NAME.get(name.trim().toLowerCase())?.info
}

/** Instance types carrying that GPU on one cloud, in preference order; empty when none. */
export function gpuOfferings(provider: CloudProvider, name: string): readonly GpuOffering[] {
  return BY_NAME.get(name.trim().toLowerCase())?.offerings[provider] ?? []
}

/** The most GPUs of that model one instance has on that cloud, or undefined if it has none. */
export function maxGpuCount(provider: CloudProvider, name: string): number | undefined {
  const offers = gpuOfferings(provider, name)
  return offers.length === 0 ? undefined : Math.max(...offers.map((x) => x.gpuCount))
}

const SYNTAX_HINT = 'expected NAME, NAME:COUNT or NAME:all (for example a100, a100:8, h100:all)'

/**
 * Parses `gpuType`: `name`, `name:N` (N a positive integer) or `name:all`. The name is
 * case-insensitive and may be an alias; it comes back canonical. A bare name means one GPU.
 */
export function parseGpuType(input: string): GpuTypeParseResult {
  const text = input.trim()
  if (text === '') return {ok: false, error: `gpuType is empty; ${SYNTAX_HINT}`}
  const parts = text.split(':')
  if (parts.length > 2) return {ok: false, error: `gpuType '${input}' has more than one ':'; ${SYNTAX_HINT}`}
  const rawName = parts[0]!.trim().toLowerCase()
  if (rawName === '') return {ok: false, error: `gpuType '${input}' has no GPU name before ':'; ${SYNTAX_HINT}`}
  const entry = BY_NAME.get(rawName)
  if (!entry) {
    const suggestion = closestName(rawName)
    return {
      ok: false,
      error:
        `unknown GPU '${parts[0]!.trim()}' in gpuType` +
        (suggestion ? ` (did you mean '${suggestion}'?)` : '') +
        `; known GPUs: ${knownGpuNames().join(', ')}`,
    }
  }
  const name = entry.info.name
  if (parts.length === 1) return {ok: true, value: {name, count: 1, countSpecified: false}}
  const rawCount = parts[1]!.trim()
  if (rawCount.toLowerCase() === 'all') return {ok: true, value: {name, count: 'all', countSpecified: true}}
  if (rawCount === '') return {ok: false, error: `gpuType '${input}' has nothing after ':'; ${SYNTAX_HINT}`}
  if (!/^[1-9][0-9]*$/.test(rawCount)) {
    return {ok: false, error: `GPU count '${rawCount}' in gpuType '${input}' must be a positive whole number or 'all'`}
  }
  const count = Number(rawCount)
  if (!Number.isSafeInteger(count)) return {ok: false, error: `GPU count '${rawCount}' in gpuType '${input}' is too large`}
  return {ok: true, value: {name, count, countSpecified: true}}
}

/**
 * Picks the instance type for a GPU request on one cloud: among instances with at least N GPUs,
 * the fewest GPUs (so exactly N when such a size exists), then the fewest vCPUs, then catalog
 * order. `all` picks the instance with the most GPUs the same way. Undefined when the cloud has
 * no such GPU or no instance with that many.
 */
export function resolveGpuInstance(provider: CloudProvider, gpu: Pick<GpuRequest, 'name' | 'count'>): GpuInstance | undefined {
  return pickGpuOffering(gpuOfferings(provider, gpu.name), gpu.count)
}

/**
 * The selection rule of {@link resolveGpuInstance} over any list of offerings, whatever its
 * order: fewest GPUs that are at least `count` (`all`: the most on offer), then fewest vCPUs,
 * then the earlier entry.
 */
export function pickGpuOffering(offers: readonly GpuOffering[], count: number | 'all'): GpuOffering | undefined {
  if (offers.length === 0) return undefined
  const wanted = count === 'all' ? Math.max(...offers.map((x) => x.gpuCount)) : count
  let best: GpuOffering | undefined
  for (const offer of offers) {
    if (offer.gpuCount < wanted) continue
    if (
      best === undefined ||
      offer.gpuCount < best.gpuCount ||
      (offer.gpuCount === best.gpuCount && offer.vcpus < best.vcpus)
    ) {
      best = offer
    }
  }
  return best
}

/**
 * The GPU model and count of an instance type (case-insensitive), for `vmType` profiles that
 * ask for `gpus: all`. GCP N1 hosts give undefined: their GPUs are attached separately.
 */
export function gpuForInstanceType(
  provider: CloudProvider,
  instanceType: string,
): {readonly gpu: string; readonly gpuCount: number} | undefined {
  const wanted = instanceType.trim().toLowerCase()
  for (const entry of CATALOG) {
    const hit = entry.offerings[provider]?.find((x) => !x.attachedAccelerator && x.instanceType.toLowerCase() === wanted)
    if (hit) return {gpu: entry.info.name, gpuCount: hit.gpuCount}
  }
  return undefined
}

/** The closest known name or alias within edit distance 2, for "did you mean". */
function closestName(input: string): string | undefined {
  let best: {name: string; distance: number} | undefined
  for (const [candidate, entry] of BY_NAME) {
    const distance = editDistance(input, candidate)
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = {name: entry.info.name, distance}
  }
  return best?.name
}
