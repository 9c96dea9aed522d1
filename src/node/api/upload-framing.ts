/**
 * The multipart framing of an upload, read beside the parser. @fastify/busboy skips, without a
 * word, a part whose `name` or `filename` holds a line break (CR or LF, e.g. `filename*=UTF-8''a%0Ab`),
 * or that has no `Content-Disposition: form-data` header: the route never saw it, so a job ran
 * without one of its `in` files and a batch lost a task. And it decodes a filename with U+FFFD for
 * bytes that are not UTF-8, so a U+FFFD that was sent could not be told from one that stands for
 * bad bytes.
 *
 * `UploadFraming` is fed the bytes the parser is fed (the request's `data` events). It finds the
 * delimiters as the parser does (`CRLF--boundary`, a CRLF put before the body; `--` after one
 * closes the body), reads each part's header block (to CRLF CRLF, its first `headerSize` bytes,
 * at most `headerPairs` lines, a line with a bare CR or LF ending it) and parses its
 * `Content-Disposition` as the parser does (busboy's parseParams, its fast path included).
 * For each part it says:
 * - why the parser will skip it (`refusal`: the upload is refused at once);
 * - its filename as sent, decoded as strict UTF-8 (`next()`, one per part the parser hands over).
 * `parts` counts every part opened: readUpload compares it with the parts the parser handed over,
 * so a part skipped for a reason not foreseen here still fails the upload.
 */

/** What the framing says of one part, in the order the parser hands the parts over. */
export interface PartHeader {
  /**
   * Its filename as sent: the bytes decoded as strict UTF-8 (or as latin1 when `filename*` says
   * so); null when they are not UTF-8; undefined when it has none, or its charset is UTF-16 or base64.
   */
  filename?: string | null
}

/** Why the parser will skip a part: the upload is refused with this code and message. */
export interface FramingRefusal { code: string, message: string }

const DASH = 0x2d
const CR = 0x0d
const DCRLF = Buffer.from('\r\n\r\n')
const EMPTY = Buffer.alloc(0)
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

export class UploadFraming {
  /** Parts opened so far. */
  parts = 0
  /** The first part the parser will skip, and why. */
  refusal?: FramingRefusal
  private readonly delimiter: Buffer
  private readonly headerSize: number
  private readonly headerPairs: number
  private closed = false
  private started = false
  /** After a delimiter: dashes seen (0 or 1); -1 elsewhere. */
  private dashes = -1
  private inPart = false
  private inHeader = false
  /** The header block's first bytes (latin1), how many it has had, its last 3 (a CRLF CRLF cut in two). */
  private kept = ''
  private fed = 0
  private last3 = ''
  /** Bytes that may begin a delimiter, held until the next chunk. */
  private held: Buffer = EMPTY
  private readonly pending: PartHeader[] = []

  /** The framing of a body of this `Content-Type`; undefined when it names no boundary (the parser refuses it too). */
  static of (contentType: string | undefined, limits: { headerSize?: number, headerPairs?: number }): UploadFraming | undefined {
    if (contentType == null) return undefined
    const { params } = parseParams(contentType)
    const boundary = params.find((p) => /^boundary$/i.test(p.key))
    if (boundary?.value == null || boundary.charset != null) return undefined
    // The parser reads the header's latin1 text as UTF-8, then writes it as UTF-8.
    return new UploadFraming(Buffer.from(utf8Lossy(boundary.value)), limits.headerSize ?? 80 * 1024, limits.headerPairs ?? 2000)
  }

  constructor (boundary: Buffer, headerSize: number, headerPairs: number) {
    this.delimiter = Buffer.concat([Buffer.from('\r\n--'), boundary])
    this.headerSize = headerSize
    this.headerPairs = headerPairs
  }

  /** The next part the parser handed over (in order); undefined past the parts read here. */
  next (): PartHeader | undefined {
    return this.pending.shift()
  }

  push (chunk: Buffer): void {
    if (this.closed) return
    if (!this.started) {
      this.started = true
      chunk = Buffer.concat([Buffer.from('\r\n'), chunk])
    }
    const buf = this.held.byteLength > 0 ? Buffer.concat([this.held, chunk]) : chunk
    this.held = EMPTY
    let pos = 0
    while (pos < buf.byteLength && !this.closed) {
      if (this.dashes >= 0) {
        if (buf[pos] === DASH) {
          pos++
          if (++this.dashes === 2) this.closed = true
          continue
        }
        // Not `--`: a part opens, and a single dash is the start of its header block.
        const lone = this.dashes === 1
        this.dashes = -1
        this.open()
        if (lone) this.header(Buffer.from('-'))
        continue
      }
      const at = buf.indexOf(this.delimiter, pos)
      if (at === -1) {
        const keep = this.heldFrom(buf, pos)
        this.region(buf.subarray(pos, keep))
        if (keep < buf.byteLength) this.held = Buffer.from(buf.subarray(keep))
        return
      }
      this.region(buf.subarray(pos, at))
      this.end()
      pos = at + this.delimiter.byteLength
      this.dashes = 0
    }
  }

  /** Where the longest tail of `buf` that begins the delimiter starts (`buf.byteLength` if none). */
  private heldFrom (buf: Buffer, from: number): number {
    for (let i = Math.max(from, buf.byteLength - this.delimiter.byteLength + 1); i < buf.byteLength; i++) {
      if (buf[i] === CR && buf.subarray(i).equals(this.delimiter.subarray(0, buf.byteLength - i))) return i
    }
    return buf.byteLength
  }

  private open (): void {
    this.parts++
    this.inPart = true
    this.inHeader = true
    this.kept = ''
    this.fed = 0
    this.last3 = ''
  }

  /** A delimiter ends the part (or the preamble). */
  private end (): void {
    if (this.inPart && this.inHeader) this.refuse('ERR_MALFORMED_UPLOAD', `part ${this.parts} ends before its header block does (no empty line after its headers)`)
    this.inPart = false
  }

  private region (bytes: Buffer): void {
    if (this.inPart && this.inHeader && bytes.byteLength > 0) this.header(bytes)
  }

  /** Bytes of the header block; past its CRLF CRLF the rest is the part's body (not read here). */
  private header (bytes: Buffer): void {
    const cap = this.headerSize + 4
    if (this.kept.length < cap) this.kept += bytes.toString('latin1', 0, Math.min(bytes.byteLength, cap - this.kept.length))
    const joined = this.last3 + bytes.toString('latin1', 0, Math.min(3, bytes.byteLength))
    const split = joined.indexOf('\r\n\r\n')
    const within = split === -1 ? bytes.indexOf(DCRLF) : -1
    if (split === -1 && within === -1) {
      this.fed += bytes.byteLength
      this.last3 = (this.last3 + bytes.toString('latin1', Math.max(0, bytes.byteLength - 3))).slice(-3)
      return
    }
    const blockBytes = split !== -1 ? this.fed - this.last3.length + split : this.fed + within
    this.inHeader = false
    this.disposition(this.fields(this.kept.slice(0, Math.min(blockBytes, this.headerSize))))
  }

  /**
   * The header block's fields as the parser reads them (names lower-cased, values of each), and
   * the line with a bare CR or LF it stopped at, if it did.
   */
  private fields (block: string): { fields: Map<string, string[]>, broken?: string } {
    const fields = new Map<string, string[]>()
    let name: string | undefined
    let pairs = 0
    for (let start = 0; start < block.length && pairs < this.headerPairs;) {
      let end = block.indexOf('\r\n', start)
      if (end === -1) end = block.length
      const line = block.slice(start, end)
      start = end + 2
      if (line.length === 0) continue
      if (line.includes('\r') || line.includes('\n')) return { fields, broken: line }
      if ((line[0] === ' ' || line[0] === '\t') && name != null) {
        const values = fields.get(name) as string[]
        values[values.length - 1] += line
        continue
      }
      const colon = line.indexOf(':')
      if (colon <= 0) break
      name = line.slice(0, colon).toLowerCase()
      const values = fields.get(name) ?? []
      fields.set(name, values)
      values.push(line.slice(line[colon + 1] === ' ' || line[colon + 1] === '\t' ? colon + 2 : colon + 1))
      pairs++
    }
    return { fields }
  }

  private disposition ({ fields, broken }: { fields: Map<string, string[]>, broken?: string }): void {
    const value = fields.get('content-disposition')?.[0]
    if (value == null && broken != null && /^content-disposition:/i.test(broken)) {
      const [code, what] = /filename/i.test(broken) ? ['ERR_INVALID_PATH', 'its filename has'] : ['ERR_MALFORMED_UPLOAD', 'its Content-Disposition has']
      const field = /;\s*name="([^"]*)"/i.exec(broken)?.[1]
      this.refuse(code, `${field != null ? `the \`${utf8Lossy(field).slice(0, 64)}\` part` : `part ${this.parts}`}: ${what} a line break (CR or LF): ${quote(utf8Lossy(broken))}; the multipart parser would drop the part`)
      return
    }
    if (value == null) {
      this.refuse('ERR_MALFORMED_UPLOAD', `part ${this.parts} has no Content-Disposition header (or a header line with a bare CR or LF before it): the multipart parser would drop it`)
      return
    }
    const { type, params } = parseParams(value)
    if (!/^form-data$/i.test(utf8Lossy(type))) {
      this.refuse('ERR_MALFORMED_UPLOAD', `part ${this.parts} is not form-data (Content-Disposition: ${quote(value)}): the multipart parser would drop it`)
      return
    }
    const fieldName = params.find((p) => /^name$/i.test(p.key))
    const label = fieldName != null ? `the \`${utf8Lossy(fieldName.value).slice(0, 64)}\` part` : `part ${this.parts}`
    const entry: PartHeader = {}
    for (const p of params) {
      if (/^name$/i.test(p.key) && hasLineBreak(p)) {
        this.refuse('ERR_MALFORMED_UPLOAD', `part ${this.parts}'s name has a line break (CR or LF): ${quote(decoded(p))}; the multipart parser would drop the part`)
        return
      }
      if (/^filename$/i.test(p.key)) {
        if (hasLineBreak(p)) {
          this.refuse('ERR_INVALID_PATH', `${label}: its filename has a line break (CR or LF): ${quote(decoded(p))}; the multipart parser would drop the part`)
          return
        }
        entry.filename = asSent(p)
      }
    }
    this.pending.push(entry)
  }

  private refuse (code: string, message: string): void {
    this.refusal ??= { code, message }
    this.closed = true
  }
}

/** One parameter: its value in latin1 text (the header's bytes; `%XX` decoded when `charset` is set, as in `filename*=UTF-8''…`). */
interface Param { key: string, value: string, charset?: string }

const State = { Key: 0, Value: 1, Charset: 2, Lang: 3 } as const

/**
 * A header value's first token and parameters, as @fastify/busboy's parseParams reads them
 * (lib/utils/parseParams.js), values left undecoded: its fast path for the common
 * `form-data; name="…"[; filename="…"]` (which ignores what follows a filename), else its state
 * machine (unquoted blanks dropped, `\` escapes in quotes, RFC 5987 `key*=charset'lang'value`).
 */
function parseParams (str: string): { type: string, params: Param[] } {
  if (!str.includes(';')) return { type: str, params: [] }
  const fast = formDataFastPath(str)
  if (fast != null) return fast
  const res: Array<string | Param> = []
  let state: number = State.Key
  let charset = ''
  let inquote = false
  let escaping = false
  let p = 0
  let tmp = ''
  const set = (value: string, withCharset: string): void => {
    const at = res[p]
    if (at === undefined) res[p] = value
    else if (typeof at !== 'string') {
      at.value = value
      if (withCharset !== '') at.charset = withCharset
    }
  }
  for (let i = 0; i < str.length; ++i) {
    const char = str[i]
    if (char === '\\' && inquote) {
      if (escaping) escaping = false
      else { escaping = true; continue }
    } else if (char === '"') {
      if (!escaping) {
        if (inquote) {
          inquote = false
          state = State.Key
          while (i + 1 < str.length && str[i + 1] !== ';') ++i
        } else inquote = true
        continue
      } else escaping = false
    } else {
      if (escaping && inquote) tmp += '\\'
      escaping = false
      if ((state === State.Charset || state === State.Lang) && char === "'") {
        if (state === State.Charset) {
          state = State.Lang
          charset = tmp.substring(1)
        } else state = State.Value
        tmp = ''
        continue
      } else if (state === State.Key && (char === '*' || char === '=') && res.length > 0) {
        state = char === '*' ? State.Charset : State.Value
        res[p] = { key: tmp, value: '' }
        tmp = ''
        continue
      } else if (!inquote && char === ';') {
        state = State.Key
        set(charset !== '' ? percentDecoded(tmp) : tmp, charset)
        charset = ''
        tmp = ''
        ++p
        continue
      } else if (!inquote && (char === ' ' || char === '\t')) continue
    }
    tmp += char
  }
  if (res[p] === undefined) {
    if (tmp !== '') res[p] = tmp
  } else set(charset !== '' ? percentDecoded(tmp) : tmp, charset)
  const type = typeof res[0] === 'string' ? res[0] : ''
  return { type, params: res.filter((r): r is Param => typeof r === 'object') }
}

function formDataFastPath (str: string): { type: string, params: Param[] } | undefined {
  if (!str.startsWith('form-data; name="')) return undefined
  let valueStart = 17
  let valueEnd = str.indexOf('"', valueStart)
  if (valueEnd === -1 || str.indexOf('\\', valueStart) !== -1) return undefined
  const out = { type: 'form-data', params: [{ key: 'name', value: str.slice(valueStart, valueEnd) }] }
  let pos = valueEnd + 1
  while (pos < str.length && str[pos] !== ';') ++pos
  if (pos === str.length) return out
  ++pos
  while (str[pos] === ' ' || str[pos] === '\t') ++pos
  if (!str.startsWith('filename="', pos)) return undefined
  valueStart = pos + 10
  valueEnd = str.indexOf('"', valueStart)
  if (valueEnd === -1 || str.indexOf('\\', valueStart) !== -1) return undefined
  out.params.push({ key: 'filename', value: str.slice(valueStart, valueEnd) })
  return out
}

function percentDecoded (text: string): string {
  return text.replace(/%[a-fA-F0-9]{2}/g, (hex) => String.fromCharCode(parseInt(hex.slice(1), 16)))
}

/** busboy's decoder for a charset (decodeText.js): UTF-16LE, base64 and latin1 by name, anything else as UTF-8. */
function charsetKind (charset: string | undefined): 'utf8' | 'latin1' | 'utf16le' | 'base64' {
  switch (charset?.toLowerCase()) {
    case 'latin1': case 'ascii': case 'us-ascii': case 'iso-8859-1': case 'iso8859-1': case 'iso88591': case 'iso_8859-1':
    case 'windows-1252': case 'iso_8859-1:1987': case 'cp1252': case 'x-cp1252':
      return 'latin1'
    case 'utf16le': case 'utf-16le': case 'ucs2': case 'ucs-2':
      return 'utf16le'
    case 'base64':
      return 'base64'
    default:
      return 'utf8'
  }
}

/** The value as the parser decodes it. */
function decoded (p: Param): string {
  const kind = charsetKind(p.charset)
  const bytes = Buffer.from(p.value, 'latin1')
  return kind === 'latin1' ? p.value : kind === 'utf16le' ? bytes.toString('ucs2') : kind === 'base64' ? bytes.toString('base64') : bytes.toString('utf8')
}

function hasLineBreak (p: Param): boolean {
  const text = decoded(p)
  return text.includes('\r') || text.includes('\n')
}

/** A filename as sent (see PartHeader.filename). */
function asSent (p: Param): string | null | undefined {
  const kind = charsetKind(p.charset)
  if (kind === 'latin1') return p.value
  if (kind !== 'utf8') return undefined
  try {
    return strictUtf8.decode(Buffer.from(p.value, 'latin1'))
  } catch {
    return null
  }
}

function utf8Lossy (latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('utf8')
}

function quote (text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text)
}
