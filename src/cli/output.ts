/** Operator-facing output: aligned tables for people, JSON for programs. */

export function printJson (value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

/** Prints rows as an aligned table with a header. */
export function printTable (headers: string[], rows: Array<Array<string | number | undefined>>): void {
  const cells = [headers, ...rows.map((r) => r.map((c) => c == null ? '-' : String(c)))]
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  for (const row of cells) {
    process.stdout.write(row.map((c, i) => i === row.length - 1 ? c : c.padEnd(widths[i])).join('  ').trimEnd() + '\n')
  }
}

export function line (text: string): void {
  process.stdout.write(text + '\n')
}

/** Shortens a peer id for tables: 12D3KooW…last6. */
export function shortPeer (peerId: string): string {
  return peerId.length > 20 ? `${peerId.slice(0, 12)}…${peerId.slice(-6)}` : peerId
}
