/**
 * cborg's tokenizer with short ASCII strings interned. Why: every frame of a lease is a list of
 * maps with the same dozen keys per task (`spec`, `module`, `inputBytes`, `stdout`...), and
 * cborg builds each key a character at a time (`str += String.fromCharCode(c)`: one string
 * allocated per character, a fifth of what a worker allocated per task), then V8 looks each new
 * string up in its string table to use it as a property name. Here a short ASCII string is
 * looked up by its bytes in a small table and the same string comes back each time; anything
 * else goes to cborg as before, so what is accepted or refused does not change.
 */
import * as cborg from 'cborg'

/** Strings of at most this many bytes are interned (a CBOR text header of one byte: length < 24). */
const MAX_INTERNED = 23
/** Slots of the table (a power of two); a slot holds the last string that hashed to it. */
const SLOTS = 1024

interface Interned { bytes: Uint8Array, text: string }
const table: Array<Interned | undefined> = new Array(SLOTS)

/** The string of `data[start, start + length)` when those bytes are ASCII (else undefined), interned. */
function asciiAt (data: Uint8Array, start: number, length: number): string | undefined {
  let hash = 0x811c9dc5
  for (let i = start; i < start + length; i++) {
    const c = data[i]
    if (c >= 0x80) return undefined
    hash = Math.imul(hash ^ c, 0x01000193)
  }
  const slot = (hash >>> 0) & (SLOTS - 1)
  const hit = table[slot]
  if (hit?.bytes.byteLength === length) {
    let same = true
    for (let i = 0; i < length; i++) {
      if (hit.bytes[i] !== data[start + i]) { same = false; break }
    }
    if (same) return hit.text
  }
  const bytes = data.slice(start, start + length)
  const text = String.fromCharCode.apply(null, bytes as unknown as number[])
  table[slot] = { bytes, text }
  return text
}

/** A tokenizer for one `cborg.decode` call (`options.tokenizer`). */
export class InterningTokenizer extends cborg.Tokenizer {
  override next (): cborg.Token {
    const self = this as unknown as { data: Uint8Array, _pos: number }
    const data = self.data
    const pos = self._pos
    const head = data[pos]
    // major type 3 (text), length in the head byte; enough bytes left (else cborg says what is wrong)
    if (head >= 0x60 && head <= 0x60 + MAX_INTERNED && pos + 1 + (head - 0x60) <= data.length) {
      const length = head - 0x60
      const text = asciiAt(data, pos + 1, length)
      if (text !== undefined) {
        self._pos = pos + 1 + length
        return new cborg.Token(cborg.Type.string, text, 1 + length)
      }
    }
    return super.next()
  }
}
