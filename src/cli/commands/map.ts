/**
 * `depin map MODULE.wasm INPUT... --out DIR [--in PATH]...`: one task per input file (a directory
 * means every regular file directly in it), run as one batch; every task finds the `--in` trees
 * under /in. As each task finishes, its stdout goes to DIR/<input name>.out, the files it left in
 * /out to DIR/<input name>/ (same paths), and DIR/results.jsonl gets one line for it. A live
 * progress line on a terminal, plain lines otherwise; `--json` prints one summary object. Exits
 * non-zero when any task did not complete, or its files could not be written.
 */
import type { Stats } from 'node:fs'
import { constants, lstat, open, readdir, stat, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { DepinError } from '../../errors.ts'
import { decodeFileName, notWritable, showUndecodable } from '../../scheduler/files/disk.ts'
import { InvalidPathError, OutputPathConflictError } from '../../scheduler/files/errors.ts'
import { MAX_BATCH_TASKS } from '../../scheduler/constants.ts'
import { assertOk, createClient } from '../client.ts'
import { interruptibleUpload } from '../interrupt.ts'
import { UsageError } from '../errors.ts'
import { prepareOutDir, scanInParts, type InputTreeUpload } from '../files.ts'
import { checkModuleFile } from '../module-check.ts'
import { checkSendableName, type FormPart } from '../multipart.ts'
import type { MapOptions } from '../program.ts'
import { cannotWriteResults, followBatch } from '../batch-follow.ts'

export { BatchFailedError, type Summary } from '../batch-follow.ts'

export interface MapInput { name: string, path: string, size: number }

/** The file in --out that gets one line per task. */
export const RESULTS_FILE = 'results.jsonl'

/**
 * The tasks of `depin map`: each file argument, and each regular file directly in each directory
 * argument (in name order). Throws `UsageError` for a missing path, an empty directory, no input
 * at all, or inputs whose outputs would collide in --out: two with the same name, one named
 * `results.jsonl`, or `X` next to `X.out` (X's stdout file is X.out's files directory).
 */
export async function expandInputs (paths: string[]): Promise<MapInput[]> {
  const out: MapInput[] = []
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined)
    if (info == null) throw new UsageError(`no such file or directory: ${path}`)
    if (info.isDirectory()) {
      const entries = (await readdir(path, { withFileTypes: true, encoding: 'buffer' })).filter((e) => e.isFile()).map((e) => {
        const name = decodeFileName(e.name)
        // (as text, such a name would name another file, or none: refused, not misread)
        if (name == null) throw new InvalidPathError(e.name.toString(), 'not-unicode', `input ${showUndecodable(`${path}/`, e.name)} is not a valid UTF-8 name; rename it (nothing was uploaded)`)
        return name
      }).sort()
      if (entries.length === 0) throw new UsageError(`${path} has no files in it`)
      for (const name of entries) out.push({ name, path: join(path, name), size: (await stat(join(path, name))).size })
    } else if (info.isFile()) {
      out.push({ name: basename(path), path, size: info.size })
    } else {
      throw new UsageError(`${path} is neither a file nor a directory`)
    }
  }
  if (out.length === 0) throw new UsageError('no input files')
  if (out.length > MAX_BATCH_TASKS) throw new UsageError(`${out.length} inputs: a batch holds at most ${MAX_BATCH_TASKS}`)
  const seen = new Set<string>()
  for (const input of out) {
    if (seen.has(input.name)) throw new UsageError(`two inputs are named ${input.name}: their outputs would collide in --out`)
    seen.add(input.name)
  }
  for (const input of out) {
    // Most file systems take names up to 255 bytes: X.out must fit (checked before any upload).
    if (Buffer.byteLength(`${input.name}.out`) > 255) throw new UsageError(`the input name ${input.name.slice(0, 40)}… is too long: its stdout file (the name and .out) would pass 255 bytes; rename it`)
    if (input.name === RESULTS_FILE) throw new UsageError(`an input is named ${RESULTS_FILE}: its output files would collide with --out's ${RESULTS_FILE}; rename it`)
    if (input.name.endsWith('.out') && seen.has(input.name.slice(0, -4))) {
      throw new UsageError(`inputs ${input.name.slice(0, -4)} and ${input.name} would collide in --out (${input.name} is the first one's stdout and the second one's files directory); rename one`)
    }
  }
  return out
}

/**
 * Opens DIR/results.jsonl for appending, before anything is submitted: never through a symlink,
 * nor a FIFO, socket or device (refused, naming `--out`). Emptied once the batch is accepted.
 */
export async function openResults (file: string, refusal = 'nothing was submitted'): Promise<FileHandle> {
  const refused = (cause: DepinError): DepinError => new DepinError(`--out: ${cause.message}; ${refusal}`, cause.code, { cause })
  const inTheWay = (info: Stats): DepinError => refused(new OutputPathConflictError(file, info.isSymbolicLink()
    ? 'a symlink is in the way (not followed)'
    : info.isDirectory() ? 'a directory is where a file is needed' : 'a FIFO, socket or device is in the way (not opened)'))
  const existing = await lstat(file).catch(() => undefined)
  if (existing != null && !existing.isFile()) throw inTheWay(existing)
  let handle: FileHandle
  try {
    // (O_NONBLOCK: a FIFO put there since the lstat fails at once, with no reader, instead of blocking)
    handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644)
  } catch (err) {
    const now = await lstat(file).catch(() => undefined)
    throw now != null && !now.isFile() ? inTheWay(now) : refused(notWritable(err, file, dirname(file)))
  }
  const info = await handle.stat()
  if (!info.isFile()) {
    await handle.close()
    throw inTheWay(info)
  }
  return handle
}

/** Creates the output directory, or refuses a path that exists and is not a directory. */
export async function prepareOut (dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined)
  if (info != null && !info.isDirectory()) throw new UsageError(`--out ${dir} exists and is not a directory`)
  await prepareOutDir(dir) // creates it; refuses a path under a file, or one that cannot be written
}

export async function mapCommand (modulePath: string, inputPaths: string[], opts: MapOptions): Promise<void> {
  const inputs = await expandInputs(inputPaths)
  for (const input of inputs) checkSendableName(input.name, 'input')
  const moduleBytes = await checkModuleFile(modulePath)
  const tree = opts.in != null ? await scanInParts(opts.in) : undefined
  await prepareOut(opts.out)
  const resultsFile = join(opts.out, RESULTS_FILE)
  const results = await openResults(resultsFile)
  try {
    await runBatch(modulePath, inputs, opts, moduleBytes, tree, results, resultsFile)
  } finally {
    await results.close()
  }
}

async function runBatch (modulePath: string, inputs: MapInput[], opts: MapOptions, moduleBytes: number, tree: InputTreeUpload | undefined, results: FileHandle, resultsFile: string): Promise<void> {
  const client = await createClient(opts)
  const spec = {
    ...(opts.arg != null ? { args: opts.arg } : {}),
    ...(opts.replicas != null ? { replicas: opts.replicas } : {}),
    ...(opts.maxPrice != null ? { maxPrice: opts.maxPrice } : {}),
    ...(opts.timeout != null ? { timeoutMs: opts.timeout * 1000 } : {}),
    ...(opts.memory != null ? { memoryMiB: opts.memory } : {}),
    ...(opts.fuel != null ? { fuel: opts.fuel } : {}),
    moduleBytes,
    ...(tree != null ? { inFiles: tree.files, inBytes: tree.bytes } : {})
  }
  const parts: FormPart[] = [
    { name: 'spec', value: JSON.stringify(spec) },
    { name: 'module', filename: basename(modulePath), path: modulePath, size: moduleBytes },
    ...inputs.map((input): FormPart => ({ name: 'input', filename: input.name, path: input.path, size: input.size })),
    ...(tree?.parts ?? [])
  ]
  const upload = await interruptibleUpload('batch', async () => await client.uploadParts('/v1/batches', parts))
  // The upload's word on a signal stands until following the batch takes the signals over.
  try {
    const response = upload.value
    await assertOk(response)
    const { id } = JSON.parse(await response.text()) as { id: string }

    await results.truncate(0).catch((err: unknown) => { throw cannotWriteResults(err, resultsFile, opts.out, id) })
    await followBatch(client, id, { out: opts.out, results, resultsFile, total: inputs.length, json: opts.json === true, nameOf: (task) => inputs[task.index]?.name ?? String(task.index), accepted: true, handOver: upload.release })
  } finally {
    upload.release()
  }
}
