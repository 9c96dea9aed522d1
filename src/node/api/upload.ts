/**
 * A job upload (POST /v1/jobs, multipart/form-data), read as a stream and checked while it
 * streams (see upload-stream.ts for what every upload gets):
 *
 * - `spec` (JSON text, best first): the job's placement and limits, `fuel`, and the declared
 *   sizes of the parts (`moduleBytes`, `inputBytes`, `inFiles`, `inBytes`);
 * - `module` (one file, at most MAX_MODULE_BYTES, starting with the WebAssembly header);
 * - `input` (at most one file, at most MAX_INPUT_BYTES): the program's stdin;
 * - `in` (any number of files, at most MAX_MANIFEST_ENTRIES and MAX_INPUT_FILES_BYTES in all): the
 *   job's input tree, each part's filename its path under /in (upload-tree.ts).
 *
 * Only after every part passed are the files read back, and only the parts of an accepted job
 * are ever in memory.
 */
import type { FastifyRequest } from 'fastify'
import { MAX_INPUT_BYTES, MAX_MODULE_BYTES } from '../../scheduler/constants.ts'
import type { TreeFile } from '../../scheduler/files/manifest.ts'
import { IN_FIELD, InputTreeParts, type InputTreeLimits } from './upload-tree.ts'
import { jobSpecFieldSchema, MAX_SPEC_FIELD_BYTES, type JobSpecField } from './upload-spec.ts'
import { PART_FRAMING_BYTES, MAX_PART_HEADER_BYTES, parseJsonField, readUpload, sizeMismatch, UploadRefusedError, type SpoolRule } from './upload-stream.ts'
import { readSpooled, type Spooled } from './upload-spool.ts'
import type { UploadGate } from './upload-gate.ts'

export { jobSpecFieldSchema, batchSpecFieldSchema, fuelFieldSchema, MAX_SPEC_FIELD_BYTES, type JobSpecField } from './upload-spec.ts'
export { WASM_HEADER, UPLOAD_IDLE_TIMEOUT_MS, UploadRefusedError, isWasmHeader, closeAfterReply, type UploadRefusal } from './upload-stream.ts'

/** Multipart framing allowed on top of the parts' own caps besides the per-part framing (the spec field). */
const MAX_FRAMING_BYTES = MAX_SPEC_FIELD_BYTES + 64 * 1024

/** Busboy's limits for a job upload, given the most `in` files: parts counted before they are parsed. */
export function jobUploadLimits (maxInFiles: number): Record<string, number> {
  return {
    files: maxInFiles + 2,
    fields: 2,
    parts: maxInFiles + 4,
    fieldSize: MAX_SPEC_FIELD_BYTES,
    // Never reached: each part's own cap (PartCheck) is lower and answers with a better error.
    fileSize: Number.MAX_SAFE_INTEGER,
    headerPairs: 32,
    headerSize: MAX_PART_HEADER_BYTES
  }
}

/** Busboy's limits with the default most `in` files. */
export const UPLOAD_LIMITS = jobUploadLimits(new InputTreeParts().maxFiles)

export interface JobUpload {
  module: Uint8Array
  /** The module part's file name, as the client sent it. */
  moduleName?: string
  input?: Uint8Array
  /** The input tree (`in` parts), when there was one. */
  files?: TreeFile[]
  spec: JobSpecField
}

export interface JobUploadInit {
  /** Where file parts are spooled. @default the OS temp dir */
  tmpRoot?: string
  /** Bounds of the input tree. @default MAX_MANIFEST_ENTRIES files, MAX_INPUT_FILES_BYTES */
  tree?: InputTreeLimits
  /** How many uploads may stream at once and the memory they share. @default processUploads */
  gate?: UploadGate
}

/**
 * Reads a job upload, spooling file parts to a temporary directory (removed before this returns).
 * Throws UploadRefusedError for everything the client got wrong.
 */
export async function readJobUpload (request: FastifyRequest, init: JobUploadInit | string = {}): Promise<JobUpload> {
  const { tmpRoot, tree: treeLimits, gate } = typeof init === 'string' ? { tmpRoot: init, tree: undefined, gate: undefined } : init
  const tree = new InputTreeParts(treeLimits)
  let spec: JobSpecField | undefined
  const single = new Map<'module' | 'input', { spooled: Spooled, name?: string, bytes: number }>()
  const declaredOf = (field: 'module' | 'input'): number | undefined => field === 'module' ? spec?.moduleBytes : spec?.inputBytes
  return await readUpload(request, {
    route: 'POST /v1/jobs',
    takes: 'multipart/form-data with a `module` file',
    maxLength: MAX_MODULE_BYTES + MAX_INPUT_BYTES + tree.maxBytes + MAX_FRAMING_BYTES + 2 * PART_FRAMING_BYTES + tree.maxFramingBytes,
    maxLengthWhy: `module ${MAX_MODULE_BYTES}, input ${MAX_INPUT_BYTES}, \`in\` files ${tree.maxBytes} in all`,
    limits: jobUploadLimits(tree.maxFiles),
    partsHelp: `at most one module file, one input file, one spec field and ${tree.maxFiles} \`in\` files`,
    tmpRoot,
    gate
  }, {
    field: (name, value, truncated) => {
      if (name !== 'spec') throw unexpectedField(name)
      if (spec != null) throw new UploadRefusedError(400, 'ERR_TOO_MANY_PARTS', 'more than one spec field', 'parts')
      if (truncated) throw new UploadRefusedError(413, 'ERR_SPEC_TOO_LARGE', `spec is over ${MAX_SPEC_FIELD_BYTES} bytes`, 'too_large')
      spec = parseJsonField('spec', value, jobSpecFieldSchema)
      // A spec after the files still catches a lie about their sizes.
      for (const [field, file] of single) {
        const declared = declaredOf(field)
        if (declared != null && file.bytes !== declared) throw sizeMismatch(field, file.bytes, declared, `spec.${field}Bytes`)
      }
      tree.declare({ files: spec.inFiles, bytes: spec.inBytes })
    },
    file: (field, filename, fidelity): SpoolRule => {
      if (field === IN_FIELD) return tree.accept(filename, fidelity)
      if (field !== 'module' && field !== 'input') throw unexpectedField(field, 'file ')
      if (single.has(field)) throw new UploadRefusedError(400, 'ERR_TOO_MANY_PARTS', `more than one ${field} file`, 'parts')
      const declared = declaredOf(field)
      return {
        label: field,
        cap: field === 'module' ? MAX_MODULE_BYTES : MAX_INPUT_BYTES,
        tooLargeCode: field === 'module' ? 'ERR_MODULE_TOO_LARGE' : 'ERR_INPUT_TOO_LARGE',
        ...(declared != null ? { declared: { bytes: declared, where: `spec.${field}Bytes` } } : {}),
        wasm: field === 'module'
      }
    },
    spooled: (field, filename, spooled) => {
      if (field === IN_FIELD) tree.add(filename as string, spooled)
      // Only a tree path keeps its directories; a module or input name is a label, its last segment.
      else single.set(field as 'module' | 'input', { spooled, name: filename != null ? lastSegment(filename) : undefined, bytes: spooled.bytes })
    },
    finish: async () => {
      const module = single.get('module')
      if (module == null) throw new UploadRefusedError(400, 'ERR_MISSING_MODULE', 'the upload has no `module` file', 'malformed')
      if (module.bytes === 0) throw new UploadRefusedError(400, 'ERR_MISSING_MODULE', 'the `module` file is empty', 'malformed')
      const files = tree.count > 0 || spec?.inFiles != null ? await tree.read() : undefined
      const input = single.get('input')
      return {
        module: await readSpooled(module.spooled),
        ...(module.name != null ? { moduleName: module.name } : {}),
        ...(input != null ? { input: await readSpooled(input.spooled) } : {}),
        ...(files != null && files.length > 0 ? { files } : {}),
        spec: spec ?? {}
      }
    }
  })
}

/** The last segment of a client's file name (`C:\\x\\m.wasm`, `dir/m.wasm` → `m.wasm`), as busboy gives by default. */
export function lastSegment (name: string): string {
  return name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1)
}

export function unexpectedField (name: string, kind = ''): UploadRefusedError {
  const hint = (name === 'module' || name === 'input' || name === IN_FIELD) && kind === '' ? ` (\`${name}\` must be a file part, with a filename)` : ''
  return new UploadRefusedError(400, 'ERR_BAD_REQUEST', `unexpected ${kind}field ${JSON.stringify(name.slice(0, 64))}${hint}`, 'malformed')
}
