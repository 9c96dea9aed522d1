/** Peer-chosen text made safe for a terminal (light: main.ts prints every error through it). */

/** What `printable` escapes: C0 controls, DEL, C1 controls, the line and paragraph separators and the bidi controls. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

/**
 * Text a worker, a peer or a job chose (file names, traps, errors, stderr), safe to print on a
 * terminal in text mode: control characters escaped as JSON writes them (`\u001b`, `\n`), so a
 * name cannot move the cursor, clear the screen, set the title, hide a line with `\r` or reverse
 * what follows it (U+202E). With `lines`, line feeds and tabs stay (stderr keeps its layout).
 * `--json` output needs none of this: JSON escapes them already.
 */
export function printable (text: string, options: { lines?: boolean } = {}): string {
  return text.replace(UNPRINTABLE, (c) => {
    if (options.lines === true && (c === '\n' || c === '\t')) return c
    return SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  })
}
