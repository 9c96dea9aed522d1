/**
 * A job upload (POST /v1/jobs, multipart/form-data), read as a stream and checked while it
 * streams, so a hostile or mistaken upload costs at most its cap and never the daemon's memory:
 *
 * - a `Content-Length` over the caps of all parts together is refused before any byte is read;
 * - each file part is written to a temporary file as it arrives (never held in memory whole),
 *   counted, and refused as soon as it passes its cap (module: MAX_MODULE_BYTES, input:
 *   MAX_INPUT_BYTES) or the size the `spec` field declared for it (`moduleBytes`, `inputBytes`);
 *   a part shorter than its declared size is refused at its end;
 * - the module must start with the WebAssembly header (checked on its first 8 bytes);
 * - parts are counted: at most one `module`, one `input`, one `spec` (busboy's own limits stop a
 *   flood of parts or fields before they are parsed).
 *
 * Only after every part passed are the files read back, and only the module and input of an
 * accepted job are ever in memory.
 */
import { createWriteStream } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { FastifyRequest } from 'fastify'
import type { Multipart } from '@fastify/multipart'
import { z } from 'zod'
import { MAX_INPUT_BYTES, MAX_MODULE_BYTES } from '../../scheduler/constants.ts'
import { MAX_JOB_MEMORY_MIB, MAX_JOB_TIMEOUT_MS, MAX_REPLICAS } from '../../scheduler/job.ts'
import { peerIdSchema } from '../../proofs/schema.ts'
import { ApiError } from './errors.ts'
import { collectYoungGarbage, YOUNG_GC_EVERY_BYTES } from './young-garbage.ts'

/** The first 8 bytes of every WebAssembly binary module: `\0asm` and version 1. */
export const WASM_HEADER = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])
/** Largest `spec` field. */
export const MAX_SPEC_FIELD_BYTES = 256 * 1024
/** Multipart framing allowed on top of the parts' own caps (boundaries, part headers, the spec). */
const MAX_FRAMING_BYTES = MAX_SPEC_FIELD_BYTES + 64 * 1024
/** An upload that sends nothing for this long is dropped (a client that stalls holds a connection, not memory). */
export const UPLOAD_IDLE_TIMEOUT_MS = 30_000
/** Busboy's limits: parts counted before they are parsed. */
export const UPLOAD_LIMITS = { files: 2, fields: 2, parts: 4, fieldSize: MAX_SPEC_FIELD_BYTES, fileSize: MAX_INPUT_BYTES + 1, headerPairs: 32 }

/** The JSON `spec` field of a job upload. */
export const jobSpecFieldSchema = z.object({
  args: z.array(z.string().max(4096)).max(256).optional(),
  env: z.record(z.string().min(1).max(256), z.string().max(4096)).optional(),
  memoryMiB: z.number().int().min(1).max(MAX_JOB_MEMORY_MIB).optional(),
  timeoutMs: z.number().int().min(1).max(MAX_JOB_TIMEOUT_MS).optional(),
  replicas: z.number().int().min(1).max(MAX_REPLICAS).optional(),
  quorum: z.number().int().min(1).max(MAX_REPLICAS).optional(),
  maxPrice: z.number().int().min(0).optional(),
  deadline: z.number().int().positive().optional(),
  peers: z.array(peerIdSchema).max(32).optional(),
  /** Spot-check this job: run it on this node too (not part of the signed job). */
  spotCheck: z.boolean().optional(),
  /** Declared size of the module part; the upload is refused if the part differs. */
  moduleBytes: z.number().int().min(1).max(MAX_MODULE_BYTES).optional(),
  /** Declared size of the input part; the upload is refused if the part differs. */
  inputBytes: z.number().int().min(0).max(MAX_INPUT_BYTES).optional()
}).strict()
export type JobSpecField = z.infer<typeof jobSpecFieldSchema>

export interface JobUpload {
  module: Uint8Array
  /** The module part's file name, as the client sent it. */
  moduleName?: string
  input?: Uint8Array
  spec: JobSpecField
}

export type UploadRefusal = 'too_large' | 'size_mismatch' | 'not_wasm' | 'parts' | 'malformed'

/** An upload refused while streaming; `reason` feeds the metrics. */
export class UploadRefusedError extends ApiError {
  readonly reason: UploadRefusal
  constructor (status: number, code: string, message: string, reason: UploadRefusal) {
    super(status, code, message)
    this.reason = reason
  }
}

const FILE_CAPS = { module: MAX_MODULE_BYTES, input: MAX_INPUT_BYTES } as const
type FileField = keyof typeof FILE_CAPS

/** Counts a part's bytes, checks them against the cap, the declared size and the wasm header. */
class PartCheck extends Transform {
  bytes = 0
  private sinceCollect = 0
  private readonly field: FileField
  private readonly cap: number
  private readonly declared?: number
  private readonly header = new Uint8Array(WASM_HEADER.length)

  private readonly onBytes: () => void

  constructor (field: FileField, declared: number | undefined, onBytes: () => void) {
    super()
    this.onBytes = onBytes
    this.field = field
    this.cap = FILE_CAPS[field]
    this.declared = declared
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const before = this.bytes
    this.bytes += chunk.byteLength
    this.onBytes()
    if (this.bytes > this.cap) {
      callback(new UploadRefusedError(413, this.field === 'module' ? 'ERR_MODULE_TOO_LARGE' : 'ERR_INPUT_TOO_LARGE', `${this.field} is over ${this.cap} bytes`, 'too_large'))
      return
    }
    if (this.declared != null && this.bytes > this.declared) {
      callback(new UploadRefusedError(400, 'ERR_UPLOAD_SIZE_MISMATCH', `${this.field} is longer than the ${this.declared} bytes declared in spec.${this.field}Bytes`, 'size_mismatch'))
      return
    }
    // The socket's read buffers die once written: free them as the upload goes (young-garbage.ts).
    this.sinceCollect += chunk.byteLength
    if (this.sinceCollect >= YOUNG_GC_EVERY_BYTES) {
      this.sinceCollect = 0
      collectYoungGarbage()
    }
    if (this.field === 'module' && before < WASM_HEADER.length) {
      this.header.set(chunk.subarray(0, WASM_HEADER.length - before), before)
      if (this.bytes >= WASM_HEADER.length && !isWasmHeader(this.header)) {
        callback(notWasm())
        return
      }
    }
    callback(null, chunk)
  }

  override _flush (callback: TransformCallback): void {
    if (this.field === 'module' && this.bytes < WASM_HEADER.length && this.bytes > 0) {
      callback(notWasm())
      return
    }
    if (this.declared != null && this.bytes !== this.declared) {
      callback(new UploadRefusedError(400, 'ERR_UPLOAD_SIZE_MISMATCH', `${this.field} has ${this.bytes} bytes, not the ${this.declared} declared in spec.${this.field}Bytes`, 'size_mismatch'))
      return
    }
    callback()
  }
}

function notWasm (): UploadRefusedError {
  return new UploadRefusedError(400, 'ERR_NOT_WASM', 'module is not a WebAssembly binary (it does not start with \\0asm, version 1)', 'not_wasm')
}

export function isWasmHeader (bytes: Uint8Array): boolean {
  return bytes.byteLength >= WASM_HEADER.length && WASM_HEADER.every((b, i) => bytes[i] === b)
}

function parseSpec (text: string): JobSpecField {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new UploadRefusedError(400, 'ERR_MALFORMED_JSON', `spec is not valid JSON: ${(err as Error).message}`, 'malformed')
  }
  const parsed = jobSpecFieldSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new UploadRefusedError(400, 'ERR_BAD_REQUEST', `invalid spec: ${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`, 'malformed')
  }
  return parsed.data
}

/** Maps @fastify/multipart's limit errors to the API's codes. */
function limitError (err: unknown): unknown {
  const code = (err as { code?: string }).code
  if (code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT') {
    return new UploadRefusedError(413, 'ERR_TOO_MANY_PARTS', `the upload has too many parts: at most one module file, one input file and one spec field (${code})`, 'parts')
  }
  if (code === 'FST_INVALID_MULTIPART_CONTENT_TYPE' || /Unexpected end of (form|multipart data)|Malformed part header|Part terminated early|Malformed/i.test((err as Error).message ?? '')) {
    return new UploadRefusedError(400, 'ERR_MALFORMED_UPLOAD', `the upload is not well-formed multipart: ${(err as Error).message}`, 'malformed')
  }
  return err
}

/**
 * Reads a job upload, spooling file parts to a temporary directory under `tmpRoot` (removed
 * before this returns). Throws UploadRefusedError for everything the client got wrong.
 */
export async function readJobUpload (request: FastifyRequest, tmpRoot = tmpdir()): Promise<JobUpload> {
  if (!request.isMultipart()) throw new UploadRefusedError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', 'POST /v1/jobs takes multipart/form-data with a `module` file', 'malformed')
  const declaredLength = Number(request.headers['content-length'])
  const maxLength = MAX_MODULE_BYTES + MAX_INPUT_BYTES + MAX_FRAMING_BYTES
  if (Number.isFinite(declaredLength) && declaredLength > maxLength) {
    throw new UploadRefusedError(413, 'ERR_UPLOAD_TOO_LARGE', `the upload declares ${declaredLength} bytes; at most ${maxLength} are accepted (module ${MAX_MODULE_BYTES}, input ${MAX_INPUT_BYTES})`, 'too_large')
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
    idle = setTimeout(() => { abort.abort(new UploadRefusedError(408, 'ERR_UPLOAD_STALLED', `the upload sent nothing for ${UPLOAD_IDLE_TIMEOUT_MS / 1000} s`, 'malformed')) }, UPLOAD_IDLE_TIMEOUT_MS)
    idle.unref()
  }
  const aborted = new Promise<never>((_resolve, reject) => { abort.signal.addEventListener('abort', () => { reject(abort.signal.reason) }, { once: true }) })
  aborted.catch(() => {})
  stillSending()
  const dir = await mkdtemp(join(tmpRoot, 'depin-upload-'))
  try {
    let spec: JobSpecField | undefined
    const files = new Map<FileField, { path: string, name?: string }>()
    let parts: AsyncIterableIterator<Multipart>
    try {
      parts = request.parts({ limits: UPLOAD_LIMITS })
    } catch (err) {
      throw limitError(err)
    }
    while (true) {
      let next: IteratorResult<Multipart>
      try {
        next = await Promise.race([parts.next(), aborted])
      } catch (err) {
        throw limitError(err)
      }
      stillSending()
      if (next.done === true) break
      const part = next.value
      if (part.type === 'file') {
        const field = part.fieldname
        if (field !== 'module' && field !== 'input') {
          part.file.resume()
          throw new UploadRefusedError(400, 'ERR_BAD_REQUEST', `unexpected file field ${JSON.stringify(field.slice(0, 64))}`, 'malformed')
        }
        if (files.has(field)) {
          part.file.resume()
          throw new UploadRefusedError(400, 'ERR_TOO_MANY_PARTS', `more than one ${field} file`, 'parts')
        }
        const path = join(dir, field)
        const check = new PartCheck(field, field === 'module' ? spec?.moduleBytes : spec?.inputBytes, stillSending)
        try {
          await pipeline(part.file, check, createWriteStream(path), { signal: abort.signal })
        } catch (err) {
          throw limitError(err)
        }
        files.set(field, { path, name: part.filename })
      } else if (part.fieldname === 'spec') {
        if (spec != null) throw new UploadRefusedError(400, 'ERR_TOO_MANY_PARTS', 'more than one spec field', 'parts')
        if (part.valueTruncated) throw new UploadRefusedError(413, 'ERR_SPEC_TOO_LARGE', `spec is over ${MAX_SPEC_FIELD_BYTES} bytes`, 'too_large')
        spec = parseSpec(String(part.value))
        // A spec after the files still catches a lie about their sizes.
        for (const [field, declared] of [['module', spec.moduleBytes], ['input', spec.inputBytes]] as const) {
          const file = files.get(field)
          if (file == null || declared == null) continue
          const actual = (await readFile(file.path)).byteLength
          if (actual !== declared) throw new UploadRefusedError(400, 'ERR_UPLOAD_SIZE_MISMATCH', `${field} has ${actual} bytes, not the ${declared} declared in spec.${field}Bytes`, 'size_mismatch')
        }
      } else {
        throw new UploadRefusedError(400, 'ERR_BAD_REQUEST', `unexpected field ${JSON.stringify(part.fieldname.slice(0, 64))}`, 'malformed')
      }
    }
    const module = files.get('module')
    if (module == null) throw new UploadRefusedError(400, 'ERR_MISSING_MODULE', 'the upload has no `module` file', 'malformed')
    const moduleBytes = new Uint8Array(await readFile(module.path))
    if (moduleBytes.byteLength === 0) throw new UploadRefusedError(400, 'ERR_MISSING_MODULE', 'the `module` file is empty', 'malformed')
    const input = files.get('input')
    return {
      module: moduleBytes,
      ...(module.name != null ? { moduleName: module.name } : {}),
      ...(input != null ? { input: new Uint8Array(await readFile(input.path)) } : {}),
      spec: spec ?? {}
    }
  } catch (err) {
    // pipeline() rejects with an AbortError whose cause is the reason.
    if (abort.signal.aborted) throw abort.signal.reason
    throw err
  } finally {
    clearTimeout(idle)
    raw.off('close', onClose)
    await rm(dir, { recursive: true, force: true })
  }
}
