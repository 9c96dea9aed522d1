/**
 * Checks Prometheus text exposition (format 0.0.4): `promtool check metrics` when promtool is on
 * this machine, and always the rules promtool's parser enforces, written out here: HELP and TYPE
 * once per family and before its samples, valid names and labels, numeric values, counters named
 * `_total`, histograms with increasing `le` buckets ending in `+Inf`, `_sum` and `_count`, no
 * duplicate series; plus promlint's naming rules for depin's own metrics.
 */
import { spawnSync } from 'node:child_process'

export interface FormatReport {
  /** promlint's naming rules, for the families whose name starts with the prefix given. */
  lint: string[]
  families: Map<string, { type: string, help: string, samples: Array<{ name: string, labels: Record<string, string>, value: number }> }>
  problems: string[]
  /** What promtool said, or undefined when it is not installed. */
  promtool?: { status: number | null, output: string }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/

function parseLabels (text: string, problems: string[], where: string): Record<string, string> {
  const labels: Record<string, string> = {}
  const re = /\s*([^=,\s]+)="((?:[^"\\]|\\.)*)"\s*(,|$)/gy
  let match: RegExpExecArray | null
  let consumed = 0
  while ((match = re.exec(text)) != null && match[0].length > 0) {
    if (!LABEL.test(match[1])) problems.push(`${where}: bad label name ${match[1]}`)
    if (labels[match[1]] != null) problems.push(`${where}: label ${match[1]} twice`)
    labels[match[1]] = match[2]
    consumed = re.lastIndex
    if (consumed >= text.length) break
  }
  if (consumed !== text.length) problems.push(`${where}: cannot parse labels {${text}}`)
  return labels
}

/**
 * promlint's rules (what `promtool check metrics` reports beyond parse errors): counters end in
 * `_total` and nothing else does, base units (seconds, bytes) spelled out, no camelCase, no type
 * in the name, HELP present, `le`/`quantile` only on histograms/summaries.
 */
function lintFamily (name: string, family: { type: string, help: string, samples: Array<{ labels: Record<string, string> }> }): string[] {
  const problems: string[] = []
  if (family.help === '') problems.push(`${name}: no help text`)
  if (family.type !== 'counter' && name.endsWith('_total')) problems.push(`${name}: non-counter metrics should not have "_total" suffix`)
  if (/[A-Z]/.test(name)) problems.push(`${name}: metric names should be written in snake_case not camelCase`)
  if (/_(counter|gauge|histogram|summary)(_|$)/.test(name)) problems.push(`${name}: metric name should not include type`)
  if (/_(milliseconds|microseconds|nanoseconds|minutes|hours|days|kilobytes|megabytes|gigabytes|ms|us|ns|sec|secs|mins|kb|mb|gb|millis|msec)(_|$)/.test(name)) problems.push(`${name}: use base unit (seconds, bytes) and no abbreviations`)
  for (const sample of family.samples) {
    for (const label of Object.keys(sample.labels)) {
      if (/[A-Z]/.test(label)) problems.push(`${name}: label ${label} should be snake_case`)
      if (label === 'le' && family.type !== 'histogram') problems.push(`${name}: le label on a non-histogram`)
      if (label === 'quantile' && family.type !== 'summary') problems.push(`${name}: quantile label on a non-summary`)
    }
  }
  return [...new Set(problems)]
}

export function checkExposition (text: string, lintPrefix = 'depin_'): FormatReport {
  const problems: string[] = []
  const families: FormatReport['families'] = new Map()
  const seenSeries = new Set<string>()
  const familyOf = (sample: string): string | undefined => {
    if (families.has(sample)) return sample
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (sample.endsWith(suffix) && families.get(sample.slice(0, -suffix.length))?.type === 'histogram') return sample.slice(0, -suffix.length)
      if (sample.endsWith(suffix) && families.get(sample.slice(0, -suffix.length))?.type === 'summary') return sample.slice(0, -suffix.length)
    }
    return undefined
  }
  if (!text.endsWith('\n')) problems.push('the exposition does not end with a newline')
  for (const [i, raw] of text.split('\n').entries()) {
    const where = `line ${i + 1}`
    if (raw === '') continue
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw)
    if (meta != null) {
      const [, kind, name, rest] = meta
      if (!NAME.test(name)) problems.push(`${where}: bad metric name ${name}`)
      const family = families.get(name) ?? { type: '', help: '', samples: [] }
      if (family.samples.length > 0) problems.push(`${where}: ${kind} of ${name} after its samples`)
      if (kind === 'TYPE') {
        if (family.type !== '') problems.push(`${where}: second TYPE for ${name}`)
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) problems.push(`${where}: unknown type ${rest}`)
        family.type = rest
      } else {
        if (family.help !== '') problems.push(`${where}: second HELP for ${name}`)
        family.help = rest
      }
      families.set(name, family)
      continue
    }
    if (raw.startsWith('#')) continue
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(raw)
    if (sample == null) { problems.push(`${where}: not a sample: ${raw}`); continue }
    const [, name, labelText, valueText] = sample
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : valueText === 'NaN' ? NaN : Number(valueText)
    if (!/^(NaN|[+-]Inf|-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?)$/i.test(valueText)) problems.push(`${where}: bad value ${valueText}`)
    const labels = labelText != null ? parseLabels(labelText, problems, where) : {}
    const familyName = familyOf(name)
    if (familyName == null) { problems.push(`${where}: sample ${name} has no TYPE`); continue }
    const series = `${name}{${Object.entries(labels).sort().map(([k, v]) => `${k}=${v}`).join(',')}}`
    if (seenSeries.has(series)) problems.push(`${where}: duplicate series ${series}`)
    seenSeries.add(series)
    families.get(familyName)?.samples.push({ name, labels, value })
  }
  for (const [name, family] of families) {
    if (family.type === '') problems.push(`${name}: no TYPE`)
    if (family.type === 'counter' && !name.endsWith('_total')) problems.push(`${name}: a counter not named _total`)
    if (family.type === 'counter' && family.samples.some((s) => s.value < 0)) problems.push(`${name}: a negative counter`)
    if (family.type === 'histogram') {
      const groups = new Map<string, Array<{ le: number, value: number }>>()
      for (const s of family.samples.filter((x) => x.name === `${name}_bucket`)) {
        const { le, ...rest } = s.labels
        if (le == null) { problems.push(`${name}: bucket without le`); continue }
        const key = JSON.stringify(rest)
        groups.set(key, [...(groups.get(key) ?? []), { le: le === '+Inf' ? Infinity : Number(le), value: s.value }])
      }
      for (const [key, buckets] of groups) {
        if (buckets.at(-1)?.le !== Infinity) problems.push(`${name}${key}: last bucket is not +Inf`)
        for (let i = 1; i < buckets.length; i++) {
          if (!(buckets[i].le > buckets[i - 1].le)) problems.push(`${name}${key}: le not increasing`)
          if (buckets[i].value < buckets[i - 1].value) problems.push(`${name}${key}: bucket counts decrease`)
        }
        const labels = JSON.parse(key) as Record<string, string>
        const same = (s: { labels: Record<string, string> }): boolean => JSON.stringify(s.labels) === JSON.stringify(labels)
        if (!family.samples.some((s) => s.name === `${name}_sum` && same(s))) problems.push(`${name}${key}: no _sum`)
        const count = family.samples.find((s) => s.name === `${name}_count` && same(s))
        if (count == null) problems.push(`${name}${key}: no _count`)
        else if (count.value !== buckets.at(-1)?.value) problems.push(`${name}${key}: _count differs from the +Inf bucket`)
      }
    }
  }
  const lint = [...families].filter(([name]) => name.startsWith(lintPrefix)).flatMap(([name, family]) => lintFamily(name, family))
  const which = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' })
  let promtool: FormatReport['promtool']
  if (which.status === 0) {
    const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
    promtool = { status: run.status, output: `${run.stdout}${run.stderr}` }
  }
  return { families, problems, lint, promtool }
}
