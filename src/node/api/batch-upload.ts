/**
 * A batch upload (POST /v1/batches, multipart/form-data), streamed and checked like a job upload
 * (upload-stream.ts):
 *
 * - `spec` (JSON text, best first): placement and limits of every task, `fuel`, args and env of
 *   every task, and the declared sizes `moduleBytes`, `inFiles`, `inBytes`;
 * - `module` (one file, WebAssembly, at most MAX_MODULE_BYTES);
 * - `input` (one file per task, in order; at most MAX_INPUT_BYTES each, MAX_BATCH_UPLOAD_BYTES in
 *   all, MAX_BATCH_TASKS parts): each task's stdin, its filename the task's name;
 * - `in` (files, their filenames paths under /in): the input tree every task sees (upload-tree.ts).
 */
import type { FastifyRequest } from 'fastify'
import { MAX_BATCH_TASKS, MAX_INPUT_BYTES, MAX_MODULE_BYTES } from '../../scheduler/constants.ts'
import type { BatchTaskInit } from '../../scheduler/job.ts'
import type { TreeFile } from '../../scheduler/files/manifest.ts'
import { IN_FIELD, InputTreeParts, type InputTreeLimits } from './upload-tree.ts'
import { batchSpecFieldSchema, MAX_SPEC_FIELD_BYTES, type BatchSpecField } from './upload-spec.ts'
import { MAX_PART_HEADER_BYTES, PART_FRAMING_BYTES, parseJsonField, readUpload, sizeMismatch, UploadRefusedError, type SpoolRule } from './upload-stream.ts'
import { lastSegment, unexpectedField } from './upload.ts'
import { readSpooled, type Spooled } from './upload-spool.ts'
import type { UploadGate } from './upload-gate.ts'

/** Most bytes of task inputs one batch upload may carry in all. */
export const MAX_BATCH_UPLOAD_BYTES = 1024 * 1024 * 1024
/** Longest task name kept (a label: longer names are cut). */
const MAX_TASK_NAME_CHARS = 255

/** Busboy's limits for a batch upload: parts counted before they are parsed. */
export function batchUploadLimits (maxInFiles: number): Record<string, number> {
  return {
    files: MAX_BATCH_TASKS + maxInFiles + 1,
    fields: 2,
    parts: MAX_BATCH_TASKS + maxInFiles + 3,
    fieldSize: MAX_SPEC_FIELD_BYTES,
    fileSize: Number.MAX_SAFE_INTEGER,
    headerPairs: 32,
    headerSize: MAX_PART_HEADER_BYTES
  }
}

export interface BatchUpload {
  module: Uint8Array
  tasks: BatchTaskInit[]
  files?: TreeFile[]
  spec: BatchSpecField
}

export interface BatchUploadInit {
  tmpRoot?: string
  tree?: InputTreeLimits
  gate?: UploadGate
}

/** Reads a batch upload (see the file's comment); throws UploadRefusedError for what the client got wrong. */
export async function readBatchUpload (request: FastifyRequest, init: BatchUploadInit = {}): Promise<BatchUpload> {
  const tree = new InputTreeParts(init.tree)
  let spec: BatchSpecField | undefined
  let module: Spooled | undefined
  const inputs: Array<{ spooled: Spooled, name?: string }> = []
  let inputBytes = 0
  return await readUpload(request, {
    route: 'POST /v1/batches',
    takes: 'multipart/form-data with a `module` file and `input` files',
    maxLength: MAX_MODULE_BYTES + MAX_BATCH_UPLOAD_BYTES + tree.maxBytes + MAX_SPEC_FIELD_BYTES + (MAX_BATCH_TASKS + 2) * (PART_FRAMING_BYTES + 255 * 3) + tree.maxFramingBytes,
    maxLengthWhy: `module ${MAX_MODULE_BYTES}, inputs ${MAX_BATCH_UPLOAD_BYTES} in all, \`in\` files ${tree.maxBytes} in all`,
    limits: batchUploadLimits(tree.maxFiles),
    partsHelp: `at most one module file, one spec field, ${MAX_BATCH_TASKS} input files and ${tree.maxFiles} \`in\` files`,
    tmpRoot: init.tmpRoot,
    gate: init.gate
  }, {
    field: (name, value, truncated) => {
      if (name !== 'spec') throw unexpectedField(name)
      if (spec != null) throw new UploadRefusedError(400, 'ERR_TOO_MANY_PARTS', 'more than one spec field', 'parts')
      if (truncated) throw new UploadRefusedError(413, 'ERR_SPEC_TOO_LARGE', `spec is over ${MAX_SPEC_FIELD_BYTES} bytes`, 'too_large')
      spec = parseJsonField('spec', value, batchSpecFieldSchema)
      if (module != null && spec.moduleBytes != null && module.bytes !== spec.moduleBytes) throw sizeMismatch('module', module.bytes, spec.moduleBytes, 'spec.moduleBytes')
      tree.declare({ files: spec.inFiles, bytes: spec.inBytes })
    },
    file: (field, filename, fidelity): SpoolRule => {
      if (field === IN_FIELD) return tree.accept(filename, fidelity)
      if (field === 'module') {
        if (module != null) throw new UploadRefusedError(400, 'ERR_TOO_MANY_PARTS', 'more than one module file', 'parts')
        return {
          label: 'module',
          cap: MAX_MODULE_BYTES,
          tooLargeCode: 'ERR_MODULE_TOO_LARGE',
          ...(spec?.moduleBytes != null ? { declared: { bytes: spec.moduleBytes, where: 'spec.moduleBytes' } } : {}),
          wasm: true
        }
      }
      if (field !== 'input') throw unexpectedField(field, 'file ')
      if (inputs.length >= MAX_BATCH_TASKS) throw new UploadRefusedError(413, 'ERR_BATCH_TOO_LARGE', `a batch holds at most ${MAX_BATCH_TASKS} tasks`, 'parts')
      const left = MAX_BATCH_UPLOAD_BYTES - inputBytes
      const label = `input ${JSON.stringify((filename ?? String(inputs.length)).slice(0, 120))}`
      return left < MAX_INPUT_BYTES
        ? { label, cap: left, tooLargeCode: 'ERR_BATCH_TOO_LARGE', tooLargeMessage: `the batch's inputs are over ${MAX_BATCH_UPLOAD_BYTES} bytes in all (at ${label})` }
        : { label, cap: MAX_INPUT_BYTES, tooLargeCode: 'ERR_INPUT_TOO_LARGE' }
    },
    spooled: (field, filename, spooled) => {
      if (field === IN_FIELD) {
        tree.add(filename as string, spooled)
      } else if (field === 'module') {
        module = spooled
      } else {
        inputBytes += spooled.bytes
        const name = filename != null ? lastSegment(filename).slice(0, MAX_TASK_NAME_CHARS) : ''
        inputs.push({ spooled, ...(name !== '' ? { name } : {}) })
      }
    },
    finish: async () => {
      if (module == null || module.bytes === 0) throw new UploadRefusedError(400, 'ERR_MISSING_MODULE', 'the upload has no `module` file', 'malformed')
      if (inputs.length === 0) throw new UploadRefusedError(400, 'ERR_NO_TASKS', 'the upload has no `input` files: a batch needs at least one task', 'malformed')
      const files = tree.count > 0 || spec?.inFiles != null ? await tree.read() : undefined
      const tasks: BatchTaskInit[] = []
      for (const input of inputs) tasks.push({ input: await readSpooled(input.spooled), ...(input.name != null ? { name: input.name } : {}) })
      return {
        module: await readSpooled(module),
        tasks,
        ...(files != null && files.length > 0 ? { files } : {}),
        spec: spec ?? {}
      }
    }
  })
}
