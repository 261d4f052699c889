import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {
  AWS_REGIONS,
  AZURE_REGIONS,
  type CloudProvider,
  CONTINENT_DESCRIPTIONS,
  CONTINENTS,
  type Continent,
  GCP_REGIONS,
  GCS_MULTI_AND_DUAL_REGIONS,
  canonicalRegion,
  continentMismatchMessage,
  continentOf,
  continentOfAzureGeography,
  continentOfGcsLocation,
  isContinent,
  isKnownRegion,
  knownRegions,
  regionInfo,
  regionOfZone,
  regionTable,
  s3RegionFromLocationConstraint,
  zonesFor,
} from '../../src/model/continents.js'

const PROVIDERS: CloudProvider[] = ['aws', 'azure', 'gcp']

/** Region names look like each cloud's API names; catches typos such as spaces or capitals. */
const NAME_SHAPE: Record<CloudProvider, RegExp> = {
  aws: /^[a-z]{2,4}(-[a-z]+)?-[a-z]+-\d$/,
  azure: /^[a-z]+\d?$/,
  gcp: /^[a-z]+-[a-z]+\d+$/,
}

function duplicates(values: readonly string[]): string[] {
  return values.filter((v, i) => values.indexOf(v) !== i)
}

describe('continents', () => {
  it('has exactly the seven continent codes of the reference', () => {
    assert.deepEqual([...CONTINENTS].sort(), ['apac', 'aus', 'ca', 'eu', 'latam', 'mea', 'us'])
    assert.deepEqual(Object.keys(CONTINENT_DESCRIPTIONS).sort(), [...CONTINENTS].sort())
    assert.equal(isContinent('apac'), true)
    assert.equal(isContinent('asia'), false)
    assert.equal(isContinent('US'), false)
  })

  for (const provider of PROVIDERS) {
    describe(`${provider} region table`, () => {
      const table = regionTable(provider)

      it('has no duplicate region names', () => {
        assert.deepEqual(duplicates(table.map((r) => r.name)), [])
      })

      it('maps every region to a valid continent', () => {
        for (const r of table) assert.ok(isContinent(r.continent), `${r.name} → ${r.continent}`)
      })

      it('uses API-shaped names and a location for every region', () => {
        for (const r of table) {
          assert.match(r.name, NAME_SHAPE[provider])
          assert.ok(r.location.length > 0, r.name)
        }
      })

      it('covers every continent with commercial regions', () => {
        const covered = new Set(table.filter((r) => r.partition === 'commercial').map((r) => r.continent))
        assert.deepEqual([...covered].sort(), [...CONTINENTS].sort())
      })

      it('has zones that belong to their region and do not repeat', () => {
        const all = table.flatMap((r) => r.zones ?? [])
        assert.deepEqual(duplicates(all), [])
        for (const r of table) {
          for (const z of r.zones ?? []) {
            assert.ok(z.startsWith(r.name), `${z} in ${r.name}`)
            assert.equal(regionOfZone(provider, z), r.name)
          }
        }
      })

      it('agrees with continentOf, isKnownRegion and knownRegions', () => {
        assert.deepEqual(knownRegions(provider), table.map((r) => r.name))
        for (const r of table) {
          assert.equal(continentOf(provider, r.name), r.continent)
          assert.equal(isKnownRegion(provider, r.name), true)
          assert.equal(regionInfo(provider, r.name), r)
        }
      })
    })
  }

  it('knows no region name twice across clouds with different continents', () => {
    // A name shared by two clouds must mean the same place, or `continentOf` callers that mix up
    // the provider would silently get another continent.
    const seen = new Map<string, Continent>()
    for (const r of [...AWS_REGIONS, ...AZURE_REGIONS, ...GCP_REGIONS]) {
      const before = seen.get(r.name)
      if (before !== undefined) assert.equal(r.continent, before, r.name)
      seen.set(r.name, r.continent)
    }
  })

  describe('continentOf', () => {
    const cases: Array<[CloudProvider, string, Continent | undefined]> = [
      ['aws', 'us-east-1', 'us'],
      ['aws', 'us-east-2', 'us'],
      ['aws', 'us-west-1', 'us'],
      ['aws', 'us-west-2', 'us'],
      ['aws', 'ca-central-1', 'ca'],
      ['aws', 'ca-west-1', 'ca'],
      ['aws', 'mx-central-1', 'latam'],
      ['aws', 'sa-east-1', 'latam'],
      ['aws', 'eu-west-1', 'eu'],
      ['aws', 'eu-west-2', 'eu'],
      ['aws', 'eu-west-3', 'eu'],
      ['aws', 'eu-central-1', 'eu'],
      ['aws', 'eu-central-2', 'eu'],
      ['aws', 'eu-north-1', 'eu'],
      ['aws', 'eu-south-1', 'eu'],
      ['aws', 'eu-south-2', 'eu'],
      ['aws', 'ap-east-1', 'apac'],
      ['aws', 'ap-east-2', 'apac'],
      ['aws', 'ap-south-1', 'apac'],
      ['aws', 'ap-south-2', 'apac'],
      ['aws', 'ap-northeast-1', 'apac'],
      ['aws', 'ap-northeast-2', 'apac'],
      ['aws', 'ap-northeast-3', 'apac'],
      ['aws', 'ap-southeast-1', 'apac'],
      ['aws', 'ap-southeast-3', 'apac'],
      ['aws', 'ap-southeast-5', 'apac'],
      ['aws', 'ap-southeast-7', 'apac'],
      ['aws', 'ap-southeast-2', 'aus'],
      ['aws', 'ap-southeast-4', 'aus'],
      ['aws', 'ap-southeast-6', 'aus'],
      ['aws', 'me-south-1', 'mea'],
      ['aws', 'me-central-1', 'mea'],
      ['aws', 'il-central-1', 'mea'],
      ['aws', 'af-south-1', 'mea'],
      ['aws', 'us-gov-west-1', 'us'],
      ['aws', 'us-gov-east-1', 'us'],
      ['aws', 'cn-north-1', 'apac'],
      ['aws', 'cn-northwest-1', 'apac'],
      ['aws', 'eastus', undefined],
      ['aws', 'us-central1', undefined],
      ['aws', 'US-EAST-1', undefined],
      ['aws', '', undefined],
      ['azure', 'eastus', 'us'],
      ['azure', 'westus3', 'us'],
      ['azure', 'canadacentral', 'ca'],
      ['azure', 'canadaeast', 'ca'],
      ['azure', 'mexicocentral', 'latam'],
      ['azure', 'brazilsouth', 'latam'],
      ['azure', 'chilecentral', 'latam'],
      ['azure', 'westeurope', 'eu'],
      ['azure', 'northeurope', 'eu'],
      ['azure', 'uksouth', 'eu'],
      ['azure', 'switzerlandnorth', 'eu'],
      ['azure', 'eastasia', 'apac'],
      ['azure', 'centralindia', 'apac'],
      ['azure', 'australiaeast', 'aus'],
      ['azure', 'australiacentral2', 'aus'],
      ['azure', 'newzealandnorth', 'aus'],
      ['azure', 'uaenorth', 'mea'],
      ['azure', 'israelcentral', 'mea'],
      ['azure', 'southafricanorth', 'mea'],
      ['azure', 'usgovvirginia', 'us'],
      ['azure', 'chinanorth3', 'apac'],
      ['azure', 'East US', undefined],
      ['azure', 'eastus2euap', undefined],
      ['azure', 'us-east-1', undefined],
      ['gcp', 'us-central1', 'us'],
      ['gcp', 'us-east1', 'us'],
      ['gcp', 'us-south1', 'us'],
      ['gcp', 'northamerica-northeast1', 'ca'],
      ['gcp', 'northamerica-northeast2', 'ca'],
      ['gcp', 'northamerica-south1', 'latam'],
      ['gcp', 'southamerica-east1', 'latam'],
      ['gcp', 'southamerica-west1', 'latam'],
      ['gcp', 'europe-west4', 'eu'],
      ['gcp', 'europe-west12', 'eu'],
      ['gcp', 'europe-north2', 'eu'],
      ['gcp', 'asia-east1', 'apac'],
      ['gcp', 'asia-south2', 'apac'],
      ['gcp', 'asia-southeast3', 'apac'],
      ['gcp', 'australia-southeast1', 'aus'],
      ['gcp', 'australia-southeast2', 'aus'],
      ['gcp', 'me-central1', 'mea'],
      ['gcp', 'me-central2', 'mea'],
      ['gcp', 'me-west1', 'mea'],
      ['gcp', 'africa-south1', 'mea'],
      ['gcp', 'us-central1-a', undefined],
      ['gcp', 'US', undefined],
      ['gcp', 'eu-west-1', undefined],
    ]
    for (const [provider, region, continent] of cases) {
      it(`${provider} ${JSON.stringify(region)} → ${continent ?? 'undefined'}`, () => {
        assert.equal(continentOf(provider, region), continent)
        assert.equal(isKnownRegion(provider, region), continent !== undefined)
      })
    }

    it('infers unknown regions from their names only when asked', () => {
      const inferred: Array<[CloudProvider, string, Continent | undefined]> = [
        ['gcp', 'us-east7', 'us'],
        ['gcp', 'northamerica-northeast3', 'ca'],
        ['gcp', 'northamerica-south2', 'latam'],
        ['gcp', 'southamerica-east2', 'latam'],
        ['gcp', 'europe-west99', 'eu'],
        ['gcp', 'asia-northeast9', 'apac'],
        ['gcp', 'australia-southeast3', 'aus'],
        ['gcp', 'africa-north1', 'mea'],
        ['gcp', 'me-west2', 'mea'],
        ['gcp', 'mars-north1', undefined],
        ['aws', 'us-east-9', 'us'],
        ['aws', 'us-gov-central-1', 'us'],
        ['aws', 'ca-east-1', 'ca'],
        ['aws', 'sa-west-1', 'latam'],
        ['aws', 'mx-north-1', 'latam'],
        ['aws', 'eu-east-1', 'eu'],
        ['aws', 'me-west-1', 'mea'],
        ['aws', 'af-north-1', 'mea'],
        ['aws', 'ap-southeast-9', 'apac'],
        ['azure', 'eastus3', 'us'],
        ['azure', 'australiawest', 'aus'],
        ['azure', 'austriawest', 'eu'],
        ['azure', 'canadawest', 'ca'],
        ['azure', 'saudiarabiaeast', 'mea'],
        ['azure', 'japancentral', 'apac'],
        ['azure', 'finlandcentral', 'eu'],
        ['azure', 'argentinacentral', 'latam'],
      ]
      for (const [provider, region, continent] of inferred) {
        assert.equal(continentOf(provider, region), undefined, `${region} must not be in the table`)
        assert.equal(continentOf(provider, region, {inferUnknown: true}), continent, `${provider} ${region}`)
      }
      // A known region is never second-guessed by the name rules.
      assert.equal(continentOf('aws', 'ap-southeast-2', {inferUnknown: true}), 'aus')
      assert.equal(continentOf('gcp', 'northamerica-south1', {inferUnknown: true}), 'latam')
    })
  })

  describe('brief tables', () => {
    // Retyped from notes/azure-provider.md §6 and notes/gcp-provider.md §6.3: every region the
    // briefs list must be in our tables with the same continent.
    const azureBrief: Record<Continent, string> = {
      us: 'eastus, eastus2, centralus, northcentralus, southcentralus, westcentralus, westus, westus2, westus3',
      ca: 'canadacentral, canadaeast',
      latam: 'brazilsouth, brazilsoutheast, chilecentral, mexicocentral',
      eu:
        'northeurope, westeurope, swedencentral, francecentral, francesouth, germanywestcentral, germanynorth, ' +
        'switzerlandnorth, switzerlandwest, norwayeast, norwaywest, polandcentral, italynorth, spaincentral, ' +
        'austriaeast, belgiumcentral, denmarkeast, uksouth, ukwest',
      apac:
        'eastasia, southeastasia, japaneast, japanwest, koreacentral, koreasouth, centralindia, southindia, westindia, ' +
        'jioindiacentral, jioindiawest, indonesiacentral, malaysiawest',
      aus: 'australiaeast, australiasoutheast, australiacentral, australiacentral2, newzealandnorth',
      mea: 'uaenorth, uaecentral, qatarcentral, israelcentral, southafricanorth, southafricawest',
    }
    const gcpBrief: Record<Continent, string> = {
      us: 'us-central1, us-east1, us-east4, us-east5, us-south1, us-west1, us-west2, us-west3, us-west4',
      ca: 'northamerica-northeast1, northamerica-northeast2',
      latam: 'northamerica-south1, southamerica-east1, southamerica-west1',
      eu:
        'europe-central2, europe-north1, europe-north2, europe-southwest1, europe-west1, europe-west2, europe-west3, ' +
        'europe-west4, europe-west6, europe-west8, europe-west9, europe-west10, europe-west12',
      apac:
        'asia-east1, asia-east2, asia-northeast1, asia-northeast2, asia-northeast3, asia-south1, asia-south2, ' +
        'asia-southeast1, asia-southeast2, asia-southeast3',
      aus: 'australia-southeast1, australia-southeast2',
      mea: 'me-central1, me-central2, me-west1, africa-south1',
    }
    const expand = (t: Record<Continent, string>) =>
      Object.entries(t).flatMap(([c, list]) => list.split(', ').map((name) => [name, c as Continent] as const))

    it('has the 58 Azure regions of the brief, plus 3 tenant-restricted ones', () => {
      const listed = expand(azureBrief)
      assert.equal(listed.length, 58)
      for (const [name, continent] of listed) assert.equal(continentOf('azure', name), continent, name)
      assert.equal(knownRegions('azure', {includeOtherPartitions: false}).length, 61)
    })

    it('has the 43 GCP regions of the brief and no others', () => {
      const listed = expand(gcpBrief)
      assert.equal(listed.length, 43)
      for (const [name, continent] of listed) assert.equal(continentOf('gcp', name), continent, name)
      assert.deepEqual(knownRegions('gcp').sort(), listed.map(([n]) => n).sort())
    })

    it('has the 34 commercial AWS regions', () => {
      assert.equal(knownRegions('aws', {includeOtherPartitions: false}).length, 34)
    })
  })

  describe('partitions and restrictions', () => {
    it('flags the AWS GovCloud and China regions', () => {
      assert.equal(regionInfo('aws', 'us-gov-west-1')?.partition, 'gov')
      assert.equal(regionInfo('aws', 'cn-north-1')?.partition, 'china')
      assert.equal(regionInfo('aws', 'us-east-1')?.partition, 'commercial')
      const commercial = knownRegions('aws', {includeOtherPartitions: false})
      assert.ok(!commercial.includes('us-gov-west-1'))
      assert.ok(!commercial.includes('cn-northwest-1'))
      assert.ok(commercial.includes('il-central-1'))
    })

    it('filters restricted Azure regions on request', () => {
      assert.equal(regionInfo('azure', 'francesouth')?.restricted, true)
      assert.equal(regionInfo('azure', 'francecentral')?.restricted, false)
      const open = knownRegions('azure', {includeRestricted: false, includeOtherPartitions: false})
      assert.ok(open.includes('francecentral'))
      assert.ok(!open.includes('francesouth'))
      assert.ok(!open.includes('usgovvirginia'))
    })
  })

  describe('canonicalRegion', () => {
    const cases: Array<[CloudProvider, string, string | undefined]> = [
      ['aws', 'US-EAST-1', 'us-east-1'],
      ['aws', ' eu-west-1 ', 'eu-west-1'],
      ['aws', 'us east 1', undefined],
      ['azure', 'East US 2', 'eastus2'],
      ['azure', 'WestEurope', 'westeurope'],
      ['azure', 'west europe', 'westeurope'],
      ['gcp', 'US-CENTRAL1', 'us-central1'],
      ['gcp', 'us central1', undefined],
      ['gcp', 'atlantis1', undefined],
    ]
    for (const [provider, input, expected] of cases) {
      it(`${provider} ${JSON.stringify(input)} → ${expected ?? 'undefined'}`, () => {
        assert.equal(canonicalRegion(provider, input), expected)
      })
    }
  })

  describe('zonesFor', () => {
    it('gives AWS zones as region + letter', () => {
      assert.deepEqual(zonesFor('aws', 'us-east-2'), ['us-east-2a', 'us-east-2b', 'us-east-2c'])
      assert.deepEqual(zonesFor('aws', 'us-east-1'), ['a', 'b', 'c', 'd', 'e', 'f'].map((l) => `us-east-1${l}`))
      assert.deepEqual(zonesFor('aws', 'ca-central-1'), ['ca-central-1a', 'ca-central-1b', 'ca-central-1d'])
    })

    it('gives GCP zones as region-letter, with the documented exceptions', () => {
      assert.deepEqual(zonesFor('gcp', 'us-central1'), ['us-central1-a', 'us-central1-b', 'us-central1-c', 'us-central1-f'])
      assert.deepEqual(zonesFor('gcp', 'us-east1'), ['us-east1-b', 'us-east1-c', 'us-east1-d'])
      assert.deepEqual(zonesFor('gcp', 'europe-west1'), ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'])
      assert.deepEqual(zonesFor('gcp', 'europe-west4'), ['europe-west4-a', 'europe-west4-b', 'europe-west4-c'])
    })

    it('gives nothing for Azure or unknown regions', () => {
      assert.equal(zonesFor('azure', 'eastus'), undefined)
      assert.equal(zonesFor('aws', 'us-east-9'), undefined)
      assert.equal(zonesFor('gcp', 'us-east-1'), undefined)
    })

    it('maps zones back to regions', () => {
      assert.equal(regionOfZone('aws', 'us-east-1a'), 'us-east-1')
      assert.equal(regionOfZone('gcp', 'europe-west4-b'), 'europe-west4')
      assert.equal(regionOfZone('aws', 'us-east-1'), undefined)
      assert.equal(regionOfZone('gcp', 'us-central1'), undefined)
      assert.equal(regionOfZone('aws', 'zz-east-1a'), undefined)
      assert.equal(regionOfZone('azure', '1'), undefined)
    })
  })

  describe('GCS locations', () => {
    const cases: Array<[string, Continent | undefined]> = [
      ['US', 'us'],
      ['EU', 'eu'],
      ['ASIA', 'apac'],
      ['us', 'us'],
      ['NAM4', 'us'],
      ['EUR4', 'eu'],
      ['EUR5', 'eu'],
      ['EUR7', 'eu'],
      ['EUR8', 'eu'],
      ['ASIA1', 'apac'],
      ['NAM9', 'us'],
      ['EUR12', 'eu'],
      ['ASIA3', 'apac'],
      ['EUROPE-WEST4', 'eu'],
      ['US-CENTRAL1', 'us'],
      ['NORTHAMERICA-NORTHEAST1', 'ca'],
      ['NORTHAMERICA-SOUTH1', 'latam'],
      ['AUSTRALIA-SOUTHEAST1', 'aus'],
      ['ME-WEST1', 'mea'],
      ['southamerica-east1', 'latam'],
      ['MARS1', undefined],
      ['', undefined],
    ]
    for (const [location, continent] of cases) {
      it(`${JSON.stringify(location)} → ${continent ?? 'undefined'}`, () => {
        assert.equal(continentOfGcsLocation(location), continent)
      })
    }

    it('maps configurable dual-regions by their data locations', () => {
      assert.equal(continentOfGcsLocation('US', ['US-CENTRAL1', 'US-EAST4']), 'us')
      assert.equal(continentOfGcsLocation('EU', ['EUROPE-WEST1', 'EUROPE-WEST4']), 'eu')
      // Mixed or unknown data locations cannot be placed: the caller asks for a region instead.
      assert.equal(continentOfGcsLocation('US', ['US-CENTRAL1', 'NORTHAMERICA-NORTHEAST1']), undefined)
      assert.equal(continentOfGcsLocation('US', ['US-CENTRAL1', 'MOON-BASE1']), undefined)
    })

    it('lists each multi/dual-region once, with known regions in each pair', () => {
      assert.deepEqual(duplicates(GCS_MULTI_AND_DUAL_REGIONS.map((l) => l.name)), [])
      for (const l of GCS_MULTI_AND_DUAL_REGIONS) {
        assert.ok(isContinent(l.continent))
        assert.equal(l.name, l.name.toUpperCase())
        for (const r of l.regions ?? []) assert.equal(continentOf('gcp', r), l.continent, `${l.name}: ${r}`)
      }
    })
  })

  it('reads S3 GetBucketLocation answers', () => {
    assert.equal(s3RegionFromLocationConstraint(undefined), 'us-east-1')
    assert.equal(s3RegionFromLocationConstraint(null), 'us-east-1')
    assert.equal(s3RegionFromLocationConstraint(''), 'us-east-1')
    assert.equal(s3RegionFromLocationConstraint('EU'), 'eu-west-1')
    assert.equal(s3RegionFromLocationConstraint('ap-southeast-2'), 'ap-southeast-2')
    assert.equal(continentOf('aws', s3RegionFromLocationConstraint('EU')), 'eu')
  })

  it('maps Azure geography groups for regions it does not know yet', () => {
    const cases: Array<[string, string, Continent | undefined]> = [
      ['US', 'United States', 'us'],
      ['Canada', 'Canada', 'ca'],
      ['South America', 'Brazil', 'latam'],
      ['Mexico', 'Mexico', 'latam'],
      ['Europe', 'Germany', 'eu'],
      ['UK', 'United Kingdom', 'eu'],
      ['Asia Pacific', 'Japan', 'apac'],
      ['Asia Pacific', 'Australia', 'aus'],
      ['Asia Pacific', 'New Zealand', 'aus'],
      ['Middle East', 'UAE', 'mea'],
      ['Africa', 'South Africa', 'mea'],
      ['Canary (US)', 'Canary (US)', undefined],
    ]
    for (const [group, geography, continent] of cases) {
      assert.equal(continentOfAzureGeography(group, geography), continent, `${group}/${geography}`)
    }
  })

  describe('continentMismatchMessage', () => {
    it('names the bucket and both continents in the exact first line', () => {
      const message = continentMismatchMessage('my-results', 'us', 'apac')
      const lines = message.split('\n')
      assert.equal(lines.length, 2)
      assert.equal(lines[0], "Bucket 'my-results' already exists in continent 'us' but you are deploying to continent 'apac'.")
      assert.match(lines[1]!, /bucket name/)
      assert.match(lines[1]!, /region in continent 'us'/)
    })

    it('follows its arguments', () => {
      assert.ok(
        continentMismatchMessage('data', 'eu', 'aus').startsWith(
          "Bucket 'data' already exists in continent 'eu' but you are deploying to continent 'aus'.\n",
        ),
      )
    })
  })

  it('imports nothing but its own folder (validate must stay fast)', () => {
    for (const file of ['continents', 'gpu-catalog', 'bucket-names']) {
      const source = readFileSync(new URL(`../../src/model/${file}.ts`, import.meta.url), 'utf8')
      const specifiers = [...source.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]!)
      for (const s of specifiers) assert.match(s, /^\.\//, `${file}.ts imports ${s}`)
    }
  })
})
