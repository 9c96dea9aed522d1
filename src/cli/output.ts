/**
 * Operator-facing output: tables for people (cli-table3, fitted to the terminal's width), JSON for
 * programs. Shared by every command (and by `depin map` and batches later).
 */
import Table from 'cli-table3'
import { printable } from './printable.ts'

export { printable }

export function printJson (value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

export function line (text: string): void {
  process.stdout.write(text + '\n')
}

export type Cell = string | number | undefined | null

export interface TableOptions {
  /** Width to fit in. @default the terminal's width; unlimited when stdout is not a terminal */
  width?: number
  /**
   * Columns that may be cut (with …) to fit, in the order they give up room. Ids a user copies into another command
   * (job ids, peer ids) should not be among them: a table too wide even then wraps instead.
   * @default every column
   */
  shrink?: number[]
}

const COLUMN_GAP = 2
const MIN_COLUMN = 6

/**
 * Widths that fit `total` columns of text: columns keep their natural width while everything
 * fits, else the shrinkable ones give up room in the order given, each down to MIN_COLUMN. When
 * even that does not fit, nothing is cut (the terminal wraps whole cells rather than show cut
 * ones that wrap anyway).
 */
export function fitWidths (natural: number[], total: number | undefined, shrinkable?: number[]): number[] {
  const widths = [...natural]
  if (total == null) return widths
  const budget = total - COLUMN_GAP * (widths.length - 1)
  let excess = widths.reduce((a, b) => a + b, 0) - budget
  if (excess <= 0) return widths
  const order = shrinkable ?? widths.map((_, i) => i).sort((a, b) => widths[b] - widths[a])
  const room = order.reduce((sum, i) => sum + Math.max(0, widths[i] - MIN_COLUMN), 0)
  if (room < excess) return widths
  for (const i of order) {
    const cut = Math.min(excess, Math.max(0, widths[i] - MIN_COLUMN))
    widths[i] -= cut
    excess -= cut
    if (excess <= 0) break
  }
  return widths
}

/** Renders rows under a header as aligned columns without borders (cli-table3), fitted to the width. */
export function renderTable (headers: string[], rows: Cell[][], options: TableOptions = {}): string {
  // Cells may hold what peers chose (file names, errors): never a raw control character.
  const cells = rows.map((r) => headers.map((_, i) => r[i] == null || r[i] === '' ? '-' : printable(String(r[i]))))
  const natural = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => [...r[i]].length)))
  const width = options.width ?? (process.stdout.isTTY === true ? process.stdout.columns : undefined)
  const widths = fitWidths(natural, width, options.shrink)
  const cut = (text: string, w: number): string => { const chars = [...text]; return chars.length > w ? chars.slice(0, Math.max(1, w - 1)).join('') + '…' : text }
  const table = new Table({
    head: headers.map((h, i) => cut(h, widths[i])),
    colWidths: widths.map((w, i) => w + (i === widths.length - 1 ? 0 : COLUMN_GAP)),
    wordWrap: false,
    chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '' },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true }
  })
  // Cut here (not by cli-table3, whose cut would eat the gap between columns).
  table.push(...cells.map((r) => r.map((c, i) => cut(c, widths[i]))))
  return table.toString().split('\n').map((l) => l.trimEnd()).join('\n')
}

export function printTable (headers: string[], rows: Cell[][], options: TableOptions = {}): void {
  process.stdout.write(renderTable(headers, rows, options) + '\n')
}

/** Shortens a peer id for tables: 12D3KooW…last6. */
export function shortPeer (peerId: string): string {
  return peerId.length > 20 ? `${peerId.slice(0, 12)}…${peerId.slice(-6)}` : peerId
}

/** Shortens a CID for tables: bafyrei…last8. */
export function shortCid (cid: string): string {
  return cid.length > 24 ? `${cid.slice(0, 10)}…${cid.slice(-8)}` : cid
}

/** `n` things in words: "1 core", "2 cores". */
export function count (n: number, thing: string): string {
  return `${n} ${thing}${n === 1 ? '' : 's'}`
}

/**
 * Credits. Balances are whole credits; what a job owes may be a fraction (price per gigafuel
 * times its fuel; the ledger rounds up once per lease), shown with up to 6 significant digits.
 */
export function credits (amount: number): string {
  const text = Number.isInteger(amount) ? amount.toLocaleString('en-US') : amount.toLocaleString('en-US', { maximumSignificantDigits: 6 })
  return `${text} ${amount === 1 ? 'credit' : 'credits'}`
}

/** A credit amount as a number without float noise (0.0027290409999999998 → 0.002729041): 12 significant digits. */
export function creditAmount (amount: number): number {
  return Number(amount.toPrecision(12))
}

/** `1.2 s`, `3 min 4 s`, `2 h 5 min`. */
export function duration (ms: number): string {
  const s = ms / 1000
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`
}

/** `0 B`, `512 B`, `1.5 KiB`, `12.3 MiB`, `2.0 GiB`. */
export function byteSize (bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`
}
