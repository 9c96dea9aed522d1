/**
 * The streamed multipart reader behind every upload of the API (POST /v1/jobs, POST
 * /v1/batches): a hostile or mistaken upload costs at most its caps and never the daemon's
 * memory.
 *
 * - a `Content-Length` over what the route can accept in all is refused before any byte is read;
 * - each file part is spooled as it arrives (upload-spool.ts: a small one in memory within a
 *   budget, any other to a temporary file; a large part is never held in memory whole),
 *   counted, and refused as soon as it passes its cap or the size the client declared for it; a
 *   part shorter than its declared size is refused at its end; a module must start with the
 *   WebAssembly header (checked on its first 8 bytes);
 * - busboy's own limits count parts before they are parsed (a flood of parts stops at the limit);
 * - the framing is read beside the parser (upload-framing.ts): a part the parser would drop
 *   without a word (a line break in its name or filename, no `Content-Disposition: form-data`) is
 *   refused at once, and an upload whose parts the parser did not all hand over is refused at its
 *   end; a filename's U+FFFD is told from bytes that were not UTF-8;
 * - an upload that stalls, or whose client goes away, ends at once.
 *
 * What a part may be, and what the parts mean together, is the route's business: it hands in
 * `UploadHandlers` that decide a rule for each file part (or refuse it), take the fields, and
 * read the spooled files back once every part passed (`finish`, while the temporary directory
 * still exists; it is removed before `readUpload` returns).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Multipart } from '@fastify/multipart'
import { ApiError } from './errors.ts'
import { collectYoungGarbage, YOUNG_GC_EVERY_BYTES } from './young-garbage.ts'
import { SpoolSink, type Spooled } from './upload-spool.ts'
import { processUploads, type UploadGate } from './upload-gate.ts'
import { UploadFraming, type PartHeader } from './upload-framing.ts'

export { UPLOAD_IDLE_TIMEOUT_MS } from './upload-gate.ts'

/** The first 8 bytes of every WebAssembly binary module: `\0asm` and version 1. */
export const WASM_HEADER = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])
/**
 * Largest header block of one part (busboy's `headerSize`): a 4096-byte path, percent-encoded
 * in `filename*`, fits three times over.
 */
export const MAX_PART_HEADER_BYTES = 16 * 1024
/**
 * Framing one part may add to an upload's length besides its filename: boundary, header lines,
 * line breaks. (Filenames are counted apart: an input tree's paths are bounded in all by its
 * manifest's size, see upload-tree.ts.)
 */
export const PART_FRAMING_BYTES = 512
/** Name prefix of an upload's spool directory under its tmp root. */
export const UPLOAD_DIR_PREFIX = 'depin-upload-'
/** After the response to a refused upload, how long the rest of the body may drain before the socket closes. */
const REFUSED_UPLOAD_LINGER_MS = 2_000

export type UploadRefusal = 'too_large' | 'size_mismatch' | 'not_wasm' | 'parts' | 'malformed' | 'busy'

/** An upload refused while streaming; `reason` feeds the metrics. */
export class UploadRefusedError extends ApiError {
  readonly reason: UploadRefusal
  constructor (status: number, code: string, message: string, reason: UploadRefusal) {
    super(status, code, message)
    this.reason = reason
  }
}

/** How one file part is kept. */
export interface SpoolRule {
  /** Names the part in messages, e.g. `module`, `in "photos/a.pgm"`. */
  label: string
  /** Most bytes; one more is refused with `tooLargeStatus` (default 413) and `tooLargeCode`. */
  cap: number
  tooLargeCode: string
  tooLargeStatus?: number
  /** Why the cap is what it is, for the message (default: `${label} is over ${cap} bytes`). */
  tooLargeMessage?: string
  /** The size the client declared (e.g. in `spec.moduleBytes`), and where it declared it. */
  declared?: { bytes: number, where: string }
  /** The part must be a WebAssembly binary (checked on its first 8 bytes). */
  wasm?: boolean
}

/**
 * Whether a part's filename is what was sent: `exact` (it has no U+FFFD, or each of its U+FFFD
 * was sent as such); `not-utf8` (the parser put U+FFFD for bytes that are not UTF-8); `unknown`
 * (it holds U+FFFD, and what was sent could not be read: a charset other than UTF-8).
 */
export type FilenameFidelity = 'exact' | 'not-utf8' | 'unknown'

export interface UploadHandlers<T> {
  /** A text field (`truncated`: longer than the `fieldSize` limit). Throw to refuse the upload. */
  field: (name: string, value: string, truncated: boolean) => void
  /** The rule for a file part, decided before its bytes are read. Throw to refuse the upload. */
  file: (field: string, filename: string | undefined, fidelity: FilenameFidelity) => SpoolRule
  /** A file part passed its rule; its bytes wait in `spooled` (read them with `readSpooled`). */
  spooled: (field: string, filename: string | undefined, spooled: Spooled) => void
  /** Every part passed: check the whole and read back what is needed (the temporary files still exist). */
  finish: () => Promise<T>
}

export interface UploadInit {
  /** The route, for messages: `POST /v1/jobs`. */
  route: string
  /** What the route takes, for the 415 message: `multipart/form-data with a \`module\` file`. */
  takes: string
  /** Largest `Content-Length` accepted (the caps of all parts plus their framing). */
  maxLength: number
  /** What the largest accepted upload is made of, for the 413 message. */
  maxLengthWhy: string
  /** Busboy's limits (parts, files, fields, fieldSize, fileSize, headerPairs, headerSize). */
  limits: Record<string, number>
  /** Says what the route accepts, for the message when busboy's part limits stop an upload. */
  partsHelp: string
  /** Where file parts are spooled. @default the OS temp dir */
  tmpRoot?: string
  /** How many uploads may stream at once and the memory they share. @default processUploads */
  gate?: UploadGate
}

/** Counts a part's bytes, checks them against its rule. */
class PartCheck extends Transform {
  bytes = 0
  private sinceCollect = 0
  private readonly rule: SpoolRule
  private readonly header = new Uint8Array(WASM_HEADER.length)
  private readonly onBytes: () => void

  constructor (rule: SpoolRule, onBytes: () => void) {
    super()
    this.rule = rule
    this.onBytes = onBytes
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const before = this.bytes
    this.bytes += chunk.byteLength
    this.onBytes()
    const { rule } = this
    if (this.bytes > rule.cap) {
      const status = rule.tooLargeStatus ?? 413
      callback(new UploadRefusedError(status, rule.tooLargeCode, rule.tooLargeMessage ?? `${rule.label} is over ${rule.cap} bytes`, status === 413 ? 'too_large' : 'size_mismatch'))
      return
    }
    if (rule.declared != null && this.bytes > rule.declared.bytes) {
      callback(new UploadRefusedError(400, 'ERR_UPLOAD_SIZE_MISMATCH', `${rule.label} is longer than the ${rule.declared.bytes} bytes declared in ${rule.declared.where}`, 'size_mismatch'))
      return
    }
    // The socket's read buffers die once written: free them as the upload goes (young-garbage.ts).
    this.sinceCollect += chunk.byteLength
    if (this.sinceCollect >= YOUNG_GC_EVERY_BYTES) {
      this.sinceCollect = 0
      collectYoungGarbage()
    }
    if (rule.wasm === true && before < WASM_HEADER.length) {
      this.header.set(chunk.subarray(0, WASM_HEADER.length - before), before)
      if (this.bytes >= WASM_HEADER.length && !isWasmHeader(this.header)) {
        callback(notWasm(rule.label))
        return
      }
    }
    callback(null, chunk)
  }

  override _flush (callback: TransformCallback): void {
    const { rule } = this
    if (rule.wasm === true && this.bytes < WASM_HEADER.length && this.bytes > 0) {
      callback(notWasm(rule.label))
      return
    }
    if (rule.declared != null && this.bytes !== rule.declared.bytes) {
      callback(sizeMismatch(rule.label, this.bytes, rule.declared.bytes, rule.declared.where))
      return
    }
    callback()
  }
}

export function sizeMismatch (label: string, actual: number, declared: number, where: string): UploadRefusedError {
  return new UploadRefusedError(400, 'ERR_UPLOAD_SIZE_MISMATCH', `${label} has ${actual} bytes, not the ${declared} declared in ${where}`, 'size_mismatch')
}

function notWasm (label: string): UploadRefusedError {
  return new UploadRefusedError(400, 'ERR_NOT_WASM', `${label} is not a WebAssembly binary (it does not start with \\0asm, version 1)`, 'not_wasm')
}

export function isWasmHeader (bytes: Uint8Array): boolean {
  return bytes.byteLength >= WASM_HEADER.length && WASM_HEADER.every((b, i) => bytes[i] === b)
}

/** Parses a JSON text field with a zod-like schema; 400 ERR_MALFORMED_JSON / ERR_BAD_REQUEST. */
export function parseJsonField<T> (name: string, text: string, schema: { safeParse: (v: unknown) => { success: true, data: T } | { success: false, error: { issues: Array<{ path: PropertyKey[], message: string }> } } }): T {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new UploadRefusedError(400, 'ERR_MALFORMED_JSON', `${name} is not valid JSON: ${(err as Error).message}`, 'malformed')
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new UploadRefusedError(400, 'ERR_BAD_REQUEST', `invalid ${name}: ${issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ` : ''}${issue.message}`, 'malformed')
  }
  return parsed.data
}

/**
 * Maps @fastify/multipart's limit and parse errors to the API's codes. Whatever the parser throws
 * is the body's fault (a missing boundary, a bad part header, a body cut short…), so it is a 400,
 * never a 500; only the API's own refusals, an abort (its reason is answered) and the file
 * system's errors while spooling (this node's fault) pass as they are.
 */
function limitError (err: unknown, partsHelp: string): unknown {
  if (err instanceof ApiError) return err
  const code = (err as { code?: string }).code
  if (code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT') {
    return new UploadRefusedError(413, 'ERR_TOO_MANY_PARTS', `the upload has too many parts: ${partsHelp} (${code})`, 'parts')
  }
  if ((err as Error).name === 'AbortError' || typeof (err as NodeJS.ErrnoException).syscall === 'string') return err
  return new UploadRefusedError(400, 'ERR_MALFORMED_UPLOAD', `the upload is not well-formed multipart: ${(err as Error).message ?? String(err)}`, 'malformed')
}

/**
 * Reads a multipart upload part by part, spooling file parts into a temporary directory under
 * `init.tmpRoot` (removed before this returns), and returns what `handlers.finish` makes of it.
 * Throws UploadRefusedError for everything the client got wrong.
 */
export async function readUpload<T> (request: FastifyRequest, init: UploadInit, handlers: UploadHandlers<T>): Promise<T> {
  if (!request.isMultipart()) throw new UploadRefusedError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', `${init.route} takes ${init.takes}`, 'malformed')
  const declaredLength = Number(request.headers['content-length'])
  if (Number.isFinite(declaredLength) && declaredLength > init.maxLength) {
    throw new UploadRefusedError(413, 'ERR_UPLOAD_TOO_LARGE', `the upload declares ${declaredLength} bytes; at most ${init.maxLength} are accepted (${init.maxLengthWhy})`, 'too_large')
  }
  const gate = init.gate ?? processUploads
  const ticket = gate.tryEnter()
  if (ticket == null) {
    throw new UploadRefusedError(503, 'ERR_TOO_MANY_UPLOADS', `${gate.maxUploads} uploads are streaming already; try again when one has ended`, 'busy')
  }
  // A client that goes away mid-upload, or stalls, ends the upload (the parser alone would wait).
  const abort = new AbortController()
  const raw = request.raw
  const onClose = (): void => {
    if (!raw.complete) abort.abort(new UploadRefusedError(400, 'ERR_UPLOAD_ABORTED', 'the client closed the connection before the upload ended', 'malformed'))
  }
  raw.once('close', onClose)
  let idle: ReturnType<typeof setTimeout> | undefined
  const stillSending = (): void => {
    clearTimeout(idle)
    idle = setTimeout(() => { abort.abort(new UploadRefusedError(408, 'ERR_UPLOAD_STALLED', `the upload sent nothing for ${gate.idleTimeoutMs / 1000} s`, 'malformed')) }, gate.idleTimeoutMs)
    idle.unref()
  }
  stillSending()
  const framing = UploadFraming.of(request.headers['content-type'], init.limits)
  const onData = (chunk: Buffer): void => {
    stillSending()
    if (framing == null || abort.signal.aborted) return
    framing.push(chunk)
    if (framing.refusal != null) abort.abort(new UploadRefusedError(400, framing.refusal.code, framing.refusal.message, 'malformed'))
  }
  let dir: string | undefined
  try {
    dir = await mkdtemp(join(init.tmpRoot ?? tmpdir(), UPLOAD_DIR_PREFIX))
    let parts: AsyncIterableIterator<Multipart>
    try {
      // preservePath: an `in` part's filename is its path in the tree; busboy would keep only its last segment.
      parts = request.parts({ limits: init.limits, preservePath: true })
    } catch (err) {
      throw limitError(err, init.partsHelp)
    }
    // Every byte the client sends counts as sending, a text field's too (busboy hands a field over
    // only once it ended: a spec sent slowly would look idle). Listened to only now that the body
    // is piped to the parser, so the listener never starts the stream flowing on its own.
    raw.on('data', onData)
    let spooledCount = 0
    let handed = 0
    while (true) {
      let next: IteratorResult<Multipart>
      try {
        next = await untilAborted(parts.next(), abort.signal)
      } catch (err) {
        throw limitError(err, init.partsHelp)
      }
      stillSending()
      if (next.done === true) break
      const part = next.value
      handed++
      const header = framing?.next()
      if (header == null) {
        if (part.type === 'file') part.file.resume()
        throw unreadParts(framing, handed)
      }
      if (typeof part.fieldname !== 'string') {
        if (part.type === 'file') part.file.resume()
        throw new UploadRefusedError(400, 'ERR_MALFORMED_UPLOAD', 'a part has no name (each needs Content-Disposition: form-data; name="…")', 'malformed')
      }
      // @fastify/multipart keeps every part it handed out in `fields`; of 100,000 parts that is
      // memory for nothing (each holds its stream): keep none.
      delete (part.fields as Record<string, unknown>)[part.fieldname]
      if (part.type === 'file') {
        let rule: SpoolRule
        try {
          rule = handlers.file(part.fieldname, part.filename, fidelity(part.filename, header))
        } catch (err) {
          part.file.resume()
          throw err
        }
        const sink = new SpoolSink(join(dir, String(spooledCount++)), ticket)
        try {
          await pipeline(part.file, new PartCheck(rule, stillSending), sink, { signal: abort.signal })
        } catch (err) {
          throw limitError(err, init.partsHelp)
        }
        handlers.spooled(part.fieldname, part.filename, sink.spooled)
      } else {
        handlers.field(part.fieldname, String(part.value), part.valueTruncated)
      }
    }
    if (framing == null || framing.parts !== handed) throw unreadParts(framing, handed)
    return await handlers.finish()
  } catch (err) {
    // pipeline() rejects with an AbortError whose cause is the reason.
    if (abort.signal.aborted) throw abort.signal.reason
    throw err
  } finally {
    clearTimeout(idle)
    raw.off('data', onData)
    raw.off('close', onClose)
    // What the parts held in memory was read back (or is dropped): the budget has it again.
    ticket.leave()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  }
}

/** What the framing tells of a filename (see FilenameFidelity). */
function fidelity (filename: string | undefined, header: PartHeader): FilenameFidelity {
  if (filename == null || !filename.includes('\uFFFD') || header.filename === filename) return 'exact'
  return header.filename === null ? 'not-utf8' : 'unknown'
}

/** The parser handed over parts the framing did not see, or did not hand over some it saw. */
function unreadParts (framing: UploadFraming | undefined, handed: number): UploadRefusedError {
  const seen = framing == null ? 'its boundary could not be read' : `it has ${framing.parts} parts`
  return new UploadRefusedError(400, 'ERR_MALFORMED_UPLOAD', `the multipart parser read ${handed} parts of the upload, but ${seen}: a part was dropped (the upload is refused rather than read without it)`, 'malformed')
}

/**
 * Removes the spool directories uploads left in `tmpRoot` when their process died mid-upload
 * (readUpload removes its own, but not after a crash or a kill -9). Only for a tmp root no other
 * live process spools into: the daemon calls it on its data dir's tmp/ while it holds the data
 * dir's lock and before its API listens. Returns how many it removed.
 */
export async function removeUploadLeftovers (tmpRoot: string): Promise<number> {
  let names: string[]
  try {
    names = await readdir(tmpRoot)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw err
  }
  const leftovers = names.filter((name) => name.startsWith(UPLOAD_DIR_PREFIX))
  for (const name of leftovers) await rm(join(tmpRoot, name), { recursive: true, force: true })
  return leftovers.length
}

/** `promise`, or the signal's reason once it aborts (a listener per call, removed after: no leak over many parts). */
function untilAborted<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then((value) => { signal.removeEventListener('abort', onAbort); resolve(value) }, (err: unknown) => { signal.removeEventListener('abort', onAbort); reject(err) })
  })
}

/**
 * After refusing an upload the rest of its body is not wanted: the answer says `Connection:
 * close`, the body drains for a short while (so the client reads the answer rather than a reset),
 * then the socket closes.
 */
export function closeAfterReply (request: FastifyRequest, reply: FastifyReply): void {
  void reply.header('connection', 'close')
  const socket = request.raw.socket
  reply.raw.once('finish', () => {
    const timer = setTimeout(() => { socket.destroy() }, REFUSED_UPLOAD_LINGER_MS)
    timer.unref()
    socket.once('close', () => { clearTimeout(timer) })
  })
}
