/**
 * Durations as an operator writes them: a whole number and one unit (`90s`, `45m`, `12h`, `30d`,
 * `2w`), or `forever`. Used by config.json's `retention` and `depin jobs --prune --older-than`.
 *
 * Written here rather than taken from a library (`ms`, `parse-duration`): those accept far more
 * (`1.5 hours`, a bare `100` meaning milliseconds, negative values, years of 365.25 days), and a
 * config value should mean one thing. Pure and dependency-free: every `depin` run may load it.
 */

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const
type Unit = keyof typeof UNIT_MS

/** The most of one unit a duration may say (a million days is already over 2,700 years). */
const MAX_AMOUNT = 1_000_000
const PATTERN = /^(\d{1,7})([smhdw])$/

export const DURATION_HELP = 'a whole number and a unit: s, m, h, d or w (e.g. 30d, 12h, 90m), or forever'

/**
 * Milliseconds of a duration; `Infinity` for `forever` (when `allowForever`). Returns undefined
 * for anything else, so callers word their own error.
 */
export function parseDuration (text: string, options: { allowForever?: boolean } = {}): number | undefined {
  const t = text.trim().toLowerCase()
  if (t === 'forever') return options.allowForever === false ? undefined : Infinity
  const match = PATTERN.exec(t)
  if (match == null) return undefined
  const amount = Number(match[1])
  if (amount > MAX_AMOUNT) return undefined
  return amount * UNIT_MS[match[2] as Unit]
}

/** The shortest exact text for milliseconds in days at most (`30d`, `14d`, `36h`, `90s`); `forever` for Infinity. */
export function formatDuration (ms: number): string {
  if (ms === Infinity) return 'forever'
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0 && ms >= UNIT_MS[unit]) return `${ms / UNIT_MS[unit]}${unit}`
  }
  return ms === 0 ? '0s' : `${Math.ceil(ms / 1000)}s`
}
