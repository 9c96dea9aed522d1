/** `depin config show | set KEY VALUE | unset KEY`: the data dir's config.json, validated as the node reads it. */
import { stat } from 'node:fs/promises'
import { defaultDataDir, readLiveApiInfo } from '../../node/paths.ts'
import { measureCapacity } from '../../node/capacity-record.ts'
import type { CapacityOverrides } from '../../node/config.ts'
import { flattenConfig, readRawConfig, setConfigValue, unsetConfigValue, validateConfig, writeRawConfig } from '../../node/config-edit.ts'
import { line, printJson, printTable } from '../output.ts'
import type { ConfigOptions } from '../program.ts'
import { UsageError } from '../errors.ts'

/**
 * What the node uses for a capacity key config.json leaves out, as `depin start` measures it on
 * this machine now (memory depends on what is free at start), from the keys it sets: slots
 * follow the cores set, not the machine's.
 */
function capacityDefaults (set: CapacityOverrides): Record<string, string> {
  const measured = measureCapacity(set)
  return {
    'capacity.cores': `${measured.cores} (all cores)`,
    'capacity.memoryMiB': `${measured.memoryMiB} (half of total memory, at most what is free at start)`,
    'capacity.pricePerGigafuel': String(measured.pricePerGigafuel),
    'capacity.slots': `${measured.slots} (= cores)`
  }
}

export async function configShowCommand (opts: ConfigOptions): Promise<void> {
  const dataDir = opts.dataDir ?? defaultDataDir()
  const raw = await readRawConfig(dataDir)
  const effective = validateConfig(raw, `${dataDir}/config.json`)
  if (opts.json === true) { printJson(effective); return }
  const set = new Map(flattenConfig(raw))
  // A config written before prices were per gigafuel names the price pricePerCpuSecond; it is read as pricePerGigafuel.
  const legacyPrice = (raw.capacity as Record<string, unknown> | undefined)?.pricePerCpuSecond
  if (legacyPrice !== undefined && set.get('capacity.pricePerGigafuel') === undefined) set.set('capacity.pricePerGigafuel', legacyPrice)
  const defaults = capacityDefaults(effective.capacity)
  printTable(['KEY', 'VALUE', 'FROM'], flattenConfig(effective as unknown as Record<string, unknown>).map(([key, value]) => [
    key,
    value === undefined ? defaults[key] ?? '' : typeof value === 'string' ? value : key === 'network' ? `${(value as { networkId?: string }).networkId ?? '(custom)'} (genesis config)` : JSON.stringify(value),
    set.get(key) === undefined ? 'default' : key === 'capacity.pricePerGigafuel' && legacyPrice !== undefined && (raw.capacity as Record<string, unknown>).pricePerGigafuel === undefined ? 'config.json (as pricePerCpuSecond)' : 'config.json'
  ]), { shrink: [1] })
}

async function existingDataDir (opts: ConfigOptions): Promise<string> {
  const dataDir = opts.dataDir ?? defaultDataDir()
  const exists = await stat(dataDir).then((s) => s.isDirectory(), () => false)
  if (!exists) throw new UsageError(`data directory ${dataDir} does not exist; run \`depin init --data-dir ${dataDir}\` first`)
  return dataDir
}

export async function configSetCommand (key: string, value: string, opts: ConfigOptions): Promise<void> {
  const dataDir = await existingDataDir(opts)
  const next = setConfigValue(await readRawConfig(dataDir), key, value)
  await writeRawConfig(dataDir, next)
  await saidDone(dataDir, `set ${key} in ${dataDir}/config.json`)
}

export async function configUnsetCommand (key: string, opts: ConfigOptions): Promise<void> {
  const dataDir = await existingDataDir(opts)
  const next = unsetConfigValue(await readRawConfig(dataDir), key)
  await writeRawConfig(dataDir, next)
  await saidDone(dataDir, `removed ${key} from ${dataDir}/config.json (back to its default)`)
}

async function saidDone (dataDir: string, what: string): Promise<void> {
  line(what)
  if (await readLiveApiInfo(dataDir) != null) line('the running node reads it at its next start (depin stop, then depin start)')
}
