/**
 * Regions of the three clouds, and the continent each belongs to.
 *
 * anycloud shares storage per continent (reference: "Bucket Sync Internals", Continent-Based
 * Storage): a bucket that exists in one continent cannot be used from a deployment in another.
 * This module is the single table behind that rule, behind region validation in
 * `anycloud validate`, and behind zone fallback. It is pure data plus lookups: no cloud SDK is
 * imported, so `validate` stays fast.
 *
 * Sources:
 * - Continent codes: reference/anycloud-bucket-sync-internals.txt (us, eu, apac, aus, latam, mea, ca).
 * - AWS: the public region list of the AWS General Reference ("Regions and Zones"), 2025, including
 *   mx-central-1 (Jan 2025), ap-southeast-7 (Jan 2025), ap-east-2 (Taipei, 2025) and
 *   ap-southeast-6 (New Zealand, 2025). Zone letters are the ones that exist in at least some
 *   accounts; AZ names are mapped per account, so confirm with DescribeAvailabilityZones.
 * - Azure: notes/azure-provider.md §6 (a `subscriptions.listLocations` dump: 58 public Physical
 *   regions), plus the three restricted regions that note lists as "exists for some tenants", plus
 *   the Azure Government and Azure China regions (flagged by partition).
 * - GCP: notes/gcp-provider.md §6.3 (43 public regions) and §6.4 (zone letters), §4.4 (GCS
 *   multi-/dual-region locations).
 *
 * Placement choices that are ours, not the clouds': New Zealand counts as `aus` (Azure's brief
 * maps newzealandnorth there; AWS ap-southeast-6 follows for consistency). Mexico is `latam`
 * (the reference lists Mexico under latam), Israel and Africa are `mea`, Canada is its own `ca`.
 */

/** A continent code, as used in anycloud's storage names (`anycloud{continent}…`) and errors. */
export type Continent = 'us' | 'eu' | 'apac' | 'aus' | 'latam' | 'mea' | 'ca'

/** The clouds whose regions this module knows. */
export type CloudProvider = 'aws' | 'azure' | 'gcp'

/** Every continent code, in the order the reference lists them. */
export const CONTINENTS: readonly Continent[] = ['us', 'eu', 'apac', 'aus', 'latam', 'mea', 'ca']

/** What each continent code covers, for help texts and errors (after the reference table). */
export const CONTINENT_DESCRIPTIONS: Readonly<Record<Continent, string>> = {
  us: 'United States',
  eu: 'Europe (incl. UK, Switzerland, Norway)',
  apac: 'Asia Pacific (East and Southeast Asia, Japan, Korea, India, mainland China)',
  aus: 'Australia and New Zealand',
  latam: 'Latin America (Mexico, Brazil, Chile)',
  mea: 'Middle East and Africa (incl. Israel)',
  ca: 'Canada',
}

/** True if `value` is one of the seven continent codes. */
export function isContinent(value: string): value is Continent {
  return (CONTINENTS as readonly string[]).includes(value)
}

/**
 * Which separate cloud a region belongs to. Only `commercial` regions are reachable with an
 * ordinary account; the others need their own accounts/tenants and endpoints.
 */
export type RegionPartition = 'commercial' | 'gov' | 'china' | 'eu-sovereign'

/** One region of one cloud. */
export interface RegionInfo {
  /** The API name: `us-east-1`, `eastus`, `us-central1`. */
  readonly name: string
  readonly continent: Continent
  /** Where it is, for humans: `N. Virginia`, `Netherlands`. */
  readonly location: string
  readonly partition: RegionPartition
  /** Access on request only (Azure DR pairs, GCP allow-listed regions): ask for quota first. */
  readonly restricted: boolean
  /** Zone names, when they are known and meaningful (AWS, GCP); see {@link zonesFor}. */
  readonly zones?: readonly string[]
}

interface RegionExtras {
  partition?: RegionPartition
  restricted?: boolean
  /** AWS: zone letters; GCP: zone letters. Expanded to `<region><letter>` / `<region>-<letter>`. */
  zoneLetters?: string
}

function regions(
  zoneStyle: 'aws' | 'gcp' | 'none',
  defaultLetters: string,
  rows: ReadonlyArray<readonly [name: string, continent: Continent, location: string, extras?: RegionExtras]>,
): readonly RegionInfo[] {
  return rows.map(([name, continent, location, extras]) => {
    const letters = extras?.zoneLetters ?? defaultLetters
    const zones =
      zoneStyle === 'aws'
        ? [...letters].map((l) => `${name}${l}`)
        : zoneStyle === 'gcp'
          ? [...letters].map((l) => `${name}-${l}`)
          : undefined
    return Object.freeze({
      name,
      continent,
      location,
      partition: extras?.partition ?? 'commercial',
      restricted: extras?.restricted ?? false,
      ...(zones ? {zones: Object.freeze(zones)} : {}),
    })
  })
}

const GOV: RegionExtras = {partition: 'gov'}
const RESTRICTED: RegionExtras = {restricted: true}

/**
 * Every AWS region. Zone letters default to a, b, c; the exceptions are the ones AWS documents
 * (us-east-1 has a–f, us-west-2 a–d, ca-central-1 a/b/d, ap-northeast-1 a/c/d for new accounts,
 * ap-northeast-2 a–d, cn-north-1 a/b/d). us-west-1 shows two of a/b/c depending on the account.
 */
export const AWS_REGIONS: readonly RegionInfo[] = regions('aws', 'abc', [
  ['us-east-1', 'us', 'N. Virginia', {zoneLetters: 'abcdef'}],
  ['us-east-2', 'us', 'Ohio'],
  ['us-west-1', 'us', 'N. California'],
  ['us-west-2', 'us', 'Oregon', {zoneLetters: 'abcd'}],
  ['ca-central-1', 'ca', 'Canada (Central)', {zoneLetters: 'abd'}],
  ['ca-west-1', 'ca', 'Calgary'],
  ['mx-central-1', 'latam', 'Mexico (Central)'],
  ['sa-east-1', 'latam', 'São Paulo'],
  ['eu-west-1', 'eu', 'Ireland'],
  ['eu-west-2', 'eu', 'London'],
  ['eu-west-3', 'eu', 'Paris'],
  ['eu-central-1', 'eu', 'Frankfurt'],
  ['eu-central-2', 'eu', 'Zurich'],
  ['eu-north-1', 'eu', 'Stockholm'],
  ['eu-south-1', 'eu', 'Milan'],
  ['eu-south-2', 'eu', 'Spain'],
  ['ap-east-1', 'apac', 'Hong Kong'],
  ['ap-east-2', 'apac', 'Taipei'],
  ['ap-south-1', 'apac', 'Mumbai'],
  ['ap-south-2', 'apac', 'Hyderabad'],
  ['ap-northeast-1', 'apac', 'Tokyo', {zoneLetters: 'acd'}],
  ['ap-northeast-2', 'apac', 'Seoul', {zoneLetters: 'abcd'}],
  ['ap-northeast-3', 'apac', 'Osaka'],
  ['ap-southeast-1', 'apac', 'Singapore'],
  ['ap-southeast-3', 'apac', 'Jakarta'],
  ['ap-southeast-5', 'apac', 'Malaysia'],
  ['ap-southeast-7', 'apac', 'Thailand'],
  ['ap-southeast-2', 'aus', 'Sydney'],
  ['ap-southeast-4', 'aus', 'Melbourne'],
  ['ap-southeast-6', 'aus', 'New Zealand'],
  ['me-south-1', 'mea', 'Bahrain'],
  ['me-central-1', 'mea', 'UAE'],
  ['il-central-1', 'mea', 'Tel Aviv'],
  ['af-south-1', 'mea', 'Cape Town'],
  // Separate partitions: separate accounts, endpoints and ARNs (aws-us-gov, aws-cn, aws-eusc).
  ['us-gov-east-1', 'us', 'GovCloud (US-East)', GOV],
  ['us-gov-west-1', 'us', 'GovCloud (US-West)', GOV],
  ['cn-north-1', 'apac', 'Beijing', {partition: 'china', zoneLetters: 'abd'}],
  ['cn-northwest-1', 'apac', 'Ningxia', {partition: 'china'}],
  // AWS European Sovereign Cloud (Brandenburg), announced for late 2025 (verify the code at launch).
  ['eusc-de-east-1', 'eu', 'European Sovereign Cloud (Germany)', {partition: 'eu-sovereign'}],
])

/**
 * Every Azure region (API names, lower case, no spaces). Azure availability zones are logical
 * per subscription ("1", "2", "3") and not offered everywhere, so no zones are listed here: read
 * them from `resourceSkus` at plan time.
 */
export const AZURE_REGIONS: readonly RegionInfo[] = regions('none', '', [
  ['eastus', 'us', 'Virginia'],
  ['eastus2', 'us', 'Virginia'],
  ['centralus', 'us', 'Iowa'],
  ['northcentralus', 'us', 'Illinois'],
  ['southcentralus', 'us', 'Texas'],
  ['westcentralus', 'us', 'Wyoming'],
  ['westus', 'us', 'California'],
  ['westus2', 'us', 'Washington'],
  ['westus3', 'us', 'Arizona'],
  ['canadacentral', 'ca', 'Toronto'],
  ['canadaeast', 'ca', 'Quebec City'],
  ['brazilsouth', 'latam', 'São Paulo State'],
  ['brazilsoutheast', 'latam', 'Rio', RESTRICTED],
  ['chilecentral', 'latam', 'Santiago'],
  ['mexicocentral', 'latam', 'Querétaro State'],
  ['northeurope', 'eu', 'Ireland'],
  ['westeurope', 'eu', 'Netherlands'],
  ['swedencentral', 'eu', 'Gävle'],
  ['swedensouth', 'eu', 'Malmö', RESTRICTED],
  ['francecentral', 'eu', 'Paris'],
  ['francesouth', 'eu', 'Marseille', RESTRICTED],
  ['germanywestcentral', 'eu', 'Frankfurt'],
  ['germanynorth', 'eu', 'Berlin', RESTRICTED],
  ['switzerlandnorth', 'eu', 'Zurich'],
  ['switzerlandwest', 'eu', 'Geneva', RESTRICTED],
  ['norwayeast', 'eu', 'Oslo'],
  ['norwaywest', 'eu', 'Stavanger', RESTRICTED],
  ['polandcentral', 'eu', 'Warsaw'],
  ['italynorth', 'eu', 'Milan'],
  ['spaincentral', 'eu', 'Madrid'],
  ['austriaeast', 'eu', 'Vienna'],
  ['belgiumcentral', 'eu', 'Brussels'],
  ['denmarkeast', 'eu', 'Copenhagen'],
  ['uksouth', 'eu', 'London'],
  ['ukwest', 'eu', 'Cardiff'],
  ['eastasia', 'apac', 'Hong Kong'],
  ['southeastasia', 'apac', 'Singapore'],
  ['japaneast', 'apac', 'Tokyo, Saitama'],
  ['japanwest', 'apac', 'Osaka'],
  ['koreacentral', 'apac', 'Seoul'],
  ['koreasouth', 'apac', 'Busan'],
  ['centralindia', 'apac', 'Pune'],
  ['southindia', 'apac', 'Chennai'],
  ['westindia', 'apac', 'Mumbai'],
  ['jioindiacentral', 'apac', 'Nagpur', RESTRICTED],
  ['jioindiawest', 'apac', 'Jamnagar', RESTRICTED],
  ['indonesiacentral', 'apac', 'Jakarta'],
  ['malaysiawest', 'apac', 'Kuala Lumpur'],
  ['taiwannorth', 'apac', 'Taipei', RESTRICTED],
  // Azure's geography group for these is "Asia Pacific"; anycloud files them under `aus`.
  ['australiaeast', 'aus', 'New South Wales'],
  ['australiasoutheast', 'aus', 'Victoria'],
  ['australiacentral', 'aus', 'Canberra'],
  ['australiacentral2', 'aus', 'Canberra', RESTRICTED],
  ['newzealandnorth', 'aus', 'Auckland'],
  ['uaenorth', 'mea', 'Dubai'],
  ['uaecentral', 'mea', 'Abu Dhabi', RESTRICTED],
  ['qatarcentral', 'mea', 'Doha'],
  ['israelcentral', 'mea', 'Israel'],
  ['israelnorthwest', 'mea', 'Israel', RESTRICTED],
  ['southafricanorth', 'mea', 'Johannesburg'],
  ['southafricawest', 'mea', 'Cape Town', RESTRICTED],
  // Azure Government and Azure China: separate clouds with their own ARM endpoints.
  ['usgovvirginia', 'us', 'Virginia', GOV],
  ['usgovarizona', 'us', 'Arizona', GOV],
  ['usgovtexas', 'us', 'Texas', GOV],
  ['usdodeast', 'us', 'Virginia', GOV],
  ['usdodcentral', 'us', 'Iowa', GOV],
  ['chinaeast', 'apac', 'Shanghai', {partition: 'china'}],
  ['chinaeast2', 'apac', 'Shanghai', {partition: 'china'}],
  ['chinaeast3', 'apac', 'Shanghai', {partition: 'china'}],
  ['chinanorth', 'apac', 'Beijing', {partition: 'china'}],
  ['chinanorth2', 'apac', 'Beijing', {partition: 'china'}],
  ['chinanorth3', 'apac', 'Hebei', {partition: 'china'}],
])

/**
 * Every GCP region. Zone letters default to a, b, c; the documented exceptions are us-central1
 * (a, b, c, f), us-east1 and europe-west1 (b, c, d). The live list is `RegionsClient.list`.
 */
export const GCP_REGIONS: readonly RegionInfo[] = regions('gcp', 'abc', [
  ['us-central1', 'us', 'Iowa', {zoneLetters: 'abcf'}],
  ['us-east1', 'us', 'South Carolina', {zoneLetters: 'bcd'}],
  ['us-east4', 'us', 'N. Virginia'],
  ['us-east5', 'us', 'Columbus'],
  ['us-south1', 'us', 'Dallas'],
  ['us-west1', 'us', 'Oregon'],
  ['us-west2', 'us', 'Los Angeles'],
  ['us-west3', 'us', 'Salt Lake City'],
  ['us-west4', 'us', 'Las Vegas'],
  ['northamerica-northeast1', 'ca', 'Montréal'],
  ['northamerica-northeast2', 'ca', 'Toronto'],
  ['northamerica-south1', 'latam', 'Querétaro'],
  ['southamerica-east1', 'latam', 'São Paulo'],
  ['southamerica-west1', 'latam', 'Santiago'],
  ['europe-central2', 'eu', 'Warsaw'],
  ['europe-north1', 'eu', 'Hamina'],
  ['europe-north2', 'eu', 'Stockholm'],
  ['europe-southwest1', 'eu', 'Madrid'],
  ['europe-west1', 'eu', 'St. Ghislain', {zoneLetters: 'bcd'}],
  ['europe-west2', 'eu', 'London'],
  ['europe-west3', 'eu', 'Frankfurt'],
  ['europe-west4', 'eu', 'Eemshaven'],
  ['europe-west6', 'eu', 'Zurich'],
  ['europe-west8', 'eu', 'Milan'],
  ['europe-west9', 'eu', 'Paris'],
  ['europe-west10', 'eu', 'Berlin'],
  ['europe-west12', 'eu', 'Turin'],
  ['asia-east1', 'apac', 'Changhua County'],
  ['asia-east2', 'apac', 'Hong Kong'],
  ['asia-northeast1', 'apac', 'Tokyo'],
  ['asia-northeast2', 'apac', 'Osaka'],
  ['asia-northeast3', 'apac', 'Seoul'],
  ['asia-south1', 'apac', 'Mumbai'],
  ['asia-south2', 'apac', 'Delhi'],
  ['asia-southeast1', 'apac', 'Jurong West'],
  ['asia-southeast2', 'apac', 'Jakarta'],
  ['asia-southeast3', 'apac', 'Bangkok'],
  ['australia-southeast1', 'aus', 'Sydney'],
  ['australia-southeast2', 'aus', 'Melbourne'],
  ['me-central1', 'mea', 'Doha'],
  ['me-central2', 'mea', 'Dammam', RESTRICTED],
  ['me-west1', 'mea', 'Tel Aviv'],
  ['africa-south1', 'mea', 'Johannesburg'],
])

/** A GCS location that is not a single region: a multi-region or a predefined dual-region. */
export interface GcsLocationInfo {
  /** Upper case, as GCS returns it: `US`, `NAM4`. */
  readonly name: string
  readonly continent: Continent
  readonly kind: 'multi-region' | 'dual-region'
  /** For dual-regions: the two regions it replicates between. */
  readonly regions?: readonly [string, string]
}

/**
 * GCS multi-regions and predefined dual-regions (https://cloud.google.com/storage/docs/locations;
 * notes/gcp-provider.md §4.4). Unknown dual-regions are mapped by their NAM/EUR/ASIA prefix.
 * The region pairs are informative only (verify against the locations page); the continent is
 * what anycloud relies on.
 */
export const GCS_MULTI_AND_DUAL_REGIONS: readonly GcsLocationInfo[] = [
  {name: 'US', continent: 'us', kind: 'multi-region'},
  {name: 'EU', continent: 'eu', kind: 'multi-region'},
  {name: 'ASIA', continent: 'apac', kind: 'multi-region'},
  {name: 'NAM4', continent: 'us', kind: 'dual-region', regions: ['us-central1', 'us-east1']},
  {name: 'EUR4', continent: 'eu', kind: 'dual-region', regions: ['europe-north1', 'europe-west4']},
  {name: 'EUR5', continent: 'eu', kind: 'dual-region', regions: ['europe-west1', 'europe-west2']},
  {name: 'EUR7', continent: 'eu', kind: 'dual-region', regions: ['europe-west2', 'europe-west3']},
  {name: 'EUR8', continent: 'eu', kind: 'dual-region', regions: ['europe-west3', 'europe-west6']},
  {name: 'ASIA1', continent: 'apac', kind: 'dual-region', regions: ['asia-northeast1', 'asia-northeast2']},
]

/** The region table of one cloud. */
export function regionTable(provider: CloudProvider): readonly RegionInfo[] {
  switch (provider) {
    case 'aws':
      return AWS_REGIONS
    case 'azure':
      return AZURE_REGIONS
    case 'gcp':
      return GCP_REGIONS
    default:
      return assertNever(provider)
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected provider: ${String(value)}`)
}

const INDEX: Readonly<Record<CloudProvider, ReadonlyMap<string, RegionInfo>>> = {
  aws: new Map(AWS_REGIONS.map((r) => [r.name, r])),
  azure: new Map(AZURE_REGIONS.map((r) => [r.name, r])),
  gcp: new Map(GCP_REGIONS.map((r) => [r.name, r])),
}

/**
 * The table entry for an exact API region name (case-sensitive: `us-east-1`, `eastus`), or
 * undefined. Use {@link canonicalRegion} first to accept `East US` or `US-EAST-1`.
 */
export function regionInfo(provider: CloudProvider, region: string): RegionInfo | undefined {
  return INDEX[provider].get(region)
}

/** Options for {@link continentOf}. */
export interface ContinentOfOptions {
  /**
   * For a region the table does not know, guess from its name (`us-…`, `europe-…`,
   * `…australia…`). Meant for regions a cloud launched after this table was written, when the
   * name came from the cloud itself; never for validating what a user typed.
   */
  inferUnknown?: boolean
}

/**
 * The continent of a region, or undefined when the region is unknown.
 *
 * Region names are matched exactly (they are API names); GCS bucket locations such as `US` or
 * `EUROPE-WEST4` go through {@link continentOfGcsLocation}, and S3 `GetBucketLocation` answers
 * through {@link s3RegionFromLocationConstraint}.
 */
export function continentOf(
  provider: CloudProvider,
  region: string,
  options: ContinentOfOptions = {},
): Continent | undefined {
  const known = regionInfo(provider, region)?.continent
  if (known !== undefined || !options.inferUnknown) return known
  return inferContinent(provider, region.trim().toLowerCase())
}

/**
 * The continent a deployment placed in `region` of `provider` runs on: for a cloud whose regions
 * this module knows; undefined for any other provider (ssh hosts, local), where no continent rule applies.
 */
export function continentOfPlacement(provider: string, region: string): Continent | undefined {
  return isCloudProvider(provider) ? continentOf(provider, region) : undefined
}

function isCloudProvider(provider: string): provider is CloudProvider {
  return provider === 'aws' || provider === 'azure' || provider === 'gcp'
}

/** True if `region` is an exact API region name of that cloud (any partition). */
export function isKnownRegion(provider: CloudProvider, region: string): boolean {
  return INDEX[provider].has(region)
}

/** Options for {@link knownRegions}. */
export interface KnownRegionsOptions {
  /** Include AWS GovCloud/China/EU sovereign and Azure Government/China; default true. */
  includeOtherPartitions?: boolean
  /** Include regions that need access on request; default true. */
  includeRestricted?: boolean
}

/** The API names of the regions of one cloud, in table order (grouped by continent). */
export function knownRegions(provider: CloudProvider, options: KnownRegionsOptions = {}): string[] {
  const {includeOtherPartitions = true, includeRestricted = true} = options
  return regionTable(provider)
    .filter((r) => (includeOtherPartitions || r.partition === 'commercial') && (includeRestricted || !r.restricted))
    .map((r) => r.name)
}

/**
 * The API name for what a user typed, when it differs only in case, surrounding blanks or (for
 * Azure, whose portal shows display names) inner spaces: `US-EAST-1` → `us-east-1`,
 * `East US 2` → `eastus2`. Undefined if nothing matches.
 */
export function canonicalRegion(provider: CloudProvider, input: string): string | undefined {
  let key = input.trim().toLowerCase()
  if (provider === 'azure') key = key.replace(/\s+/g, '')
  return INDEX[provider].has(key) ? key : undefined
}

/**
 * Zone names of a region where the cloud has a fixed naming scheme: AWS `us-east-1a`…, GCP
 * `us-central1-a`…. Undefined for Azure (zones are `1`–`3` per subscription and not offered in
 * every region: ask `resourceSkus`) and for unknown regions. These are fallbacks: the live lists
 * come from DescribeAvailabilityZones / `RegionsClient.get().zones`.
 */
export function zonesFor(provider: CloudProvider, region: string): readonly string[] | undefined {
  return regionInfo(provider, region)?.zones
}

/**
 * The region of a zone name (`us-east-1a` → `us-east-1`, `europe-west4-b` → `europe-west4`), if
 * that region is known. Azure zone numbers carry no region, so Azure always gives undefined.
 */
export function regionOfZone(provider: CloudProvider, zone: string): string | undefined {
  if (provider === 'azure') return undefined
  const region = provider === 'aws' ? zone.replace(/[a-z]$/, '') : zone.replace(/-[a-z]$/, '')
  return region !== zone && isKnownRegion(provider, region) ? region : undefined
}

/**
 * The continent of a GCS bucket's `location` (any case: GCS answers upper case).
 *
 * - Multi-regions `US`, `EU`, `ASIA`; predefined dual-regions by table, unknown ones by their
 *   `NAM`/`EUR`/`ASIA` prefix (notes/gcp-provider.md §4.4).
 * - A configurable dual-region reports a multi-region code plus `dataLocations`: when those are
 *   given, every data location must be in the same continent, else the answer is undefined
 *   (the caller should then ask the user for an explicit region).
 * - Otherwise the location is a region (`EUROPE-WEST4`) and the GCP region table decides.
 */
export function continentOfGcsLocation(location: string, dataLocations: readonly string[] = []): Continent | undefined {
  if (dataLocations.length > 0) {
    const continents = new Set(dataLocations.map((d) => continentOf('gcp', d.trim().toLowerCase())))
    if (continents.size !== 1) return undefined
    const [only] = continents
    return only
  }
  const upper = location.trim().toUpperCase()
  const listed = GCS_MULTI_AND_DUAL_REGIONS.find((l) => l.name === upper)
  if (listed) return listed.continent
  if (/^NAM\d+$/.test(upper)) return 'us'
  if (/^EUR\d+$/.test(upper)) return 'eu'
  if (/^ASIA\d+$/.test(upper)) return 'apac'
  return continentOf('gcp', upper.toLowerCase())
}

/**
 * The region of an S3 bucket from its `GetBucketLocation` answer. S3 answers an empty/null
 * `LocationConstraint` for us-east-1 and the legacy `EU` for eu-west-1 (S3 API reference,
 * GetBucketLocation); every other region answers its own name.
 */
export function s3RegionFromLocationConstraint(constraint: string | null | undefined): string {
  if (constraint === undefined || constraint === null || constraint === '') return 'us-east-1'
  if (constraint === 'EU') return 'eu-west-1'
  return constraint
}

/**
 * The continent of an Azure region the table does not know, from the `metadata.geographyGroup`
 * (and `metadata.geography`) of `subscriptions.listLocations` (notes/azure-provider.md §6):
 * US→us, Canada→ca, South America/Mexico→latam, Europe/UK→eu, Asia Pacific→apac except the
 * geographies Australia and New Zealand→aus, Middle East/Africa→mea.
 */
export function continentOfAzureGeography(geographyGroup: string, geography = ''): Continent | undefined {
  const group = geographyGroup.trim().toLowerCase()
  const geo = geography.trim().toLowerCase()
  if (geo === 'australia' || geo === 'new zealand') return 'aus'
  switch (group) {
    case 'us':
      return 'us'
    case 'canada':
      return 'ca'
    case 'south america':
    case 'mexico':
      return 'latam'
    case 'europe':
    case 'uk':
      return 'eu'
    case 'asia pacific':
      return 'apac'
    case 'middle east':
    case 'africa':
      return 'mea'
    default:
      return undefined
  }
}

/** Name-based guesses, most specific first; see {@link ContinentOfOptions.inferUnknown}. */
const INFERENCE: Readonly<Record<CloudProvider, ReadonlyArray<readonly [RegExp, Continent]>>> = {
  aws: [
    [/^us-/, 'us'],
    [/^ca-/, 'ca'],
    [/^(mx|sa)-/, 'latam'],
    [/^eu(sc)?-/, 'eu'],
    [/^(me|il|af)-/, 'mea'],
    // ap- covers Australia/New Zealand as well; a new Oceania region would be misfiled as apac.
    [/^(ap|cn)-/, 'apac'],
  ],
  azure: [
    [/australia|newzealand/, 'aus'],
    [/canada/, 'ca'],
    [/brazil|chile|mexico|argentina|colombia/, 'latam'],
    [/europe|^uk|france|germany|switzerland|norway|sweden|poland|italy|spain|austria|belgium|denmark|finland|greece/, 'eu'],
    [/uae|qatar|israel|saudi|kuwait|southafrica|africa/, 'mea'],
    [/asia|japan|korea|india|indonesia|malaysia|taiwan|china/, 'apac'],
    [/^us|us\d*$/, 'us'],
  ],
  gcp: [
    [/^us-/, 'us'],
    [/^northamerica-northeast/, 'ca'],
    [/^(northamerica-south|southamerica-)/, 'latam'],
    [/^europe-/, 'eu'],
    [/^asia-/, 'apac'],
    [/^australia-/, 'aus'],
    [/^(me|africa)-/, 'mea'],
  ],
}

function inferContinent(provider: CloudProvider, region: string): Continent | undefined {
  return INFERENCE[provider].find(([pattern]) => pattern.test(region))?.[1]
}

/**
 * The error shown when a bucket lives in another continent than the deployment (SPEC §5,
 * "Continent rule"): the first line names both continents, the second says what to do.
 */
export function continentMismatchMessage(bucket: string, bucketContinent: Continent, deployContinent: Continent): string {
  return (
    `Bucket '${bucket}' already exists in continent '${bucketContinent}' but you are deploying to continent '${deployContinent}'.\n` +
    `Pick another bucket name in anycloud.yaml, or deploy to a region in continent '${bucketContinent}' (${CONTINENT_DESCRIPTIONS[bucketContinent]}).`
  )
}
