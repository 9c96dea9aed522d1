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
import { decodeFileName, notWritable, showUndecodable, writeOutputTree } from '../../scheduler/files/disk.ts'
import { InvalidPathError, OutputPathConflictError } from '../../scheduler/files/errors.ts'
import { MAX_BATCH_TASKS } from '../../scheduler/constants.ts'
import type { OutputFileInfo } from '../../scheduler/requester/trees.ts'
import { assertOk, createClient, type ApiClient } from '../client.ts'
import { serverEvents } from '../events.ts'
import { connectionLost, interruptibleUpload, onInterrupt } from '../interrupt.ts'
import { UsageError } from '../errors.ts'
import { downloadFiles, prepareOutDir, scanInParts, type InputTreeUpload } from '../files.ts'
import { checkModuleFile } from '../module-check.ts'
import { checkSendableName, type FormPart } from '../multipart.ts'
import { creditAmount, credits, duration, printable, printJson } from '../output.ts'
import type { MapOptions } from '../program.ts'

/** Some tasks of a batch did not complete. */
export class BatchFailedError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_BATCH_FAILED')
  }
}

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
async function openResults (file: string): Promise<FileHandle> {
  const refused = (cause: DepinError): DepinError => new DepinError(`--out: ${cause.message}; nothing was submitted`, cause.code, { cause })
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
async function prepareOut (dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined)
  if (info != null && !info.isDirectory()) throw new UsageError(`--out ${dir} exists and is not a directory`)
  await prepareOutDir(dir) // creates it; refuses a path under a file, or one that cannot be written
}

interface TaskEvent {
  index: number
  name?: string
  status: string
  exitCode?: number
  trap?: string
  outputCid?: string
  fuel?: string
  filesCid?: string
  files?: OutputFileInfo[]
  verified: boolean
  workers: string[]
  cost: number
  error?: { code: string, message: string }
  stdout?: string
}

export interface Summary { id: string, status: string, tasks: number, completed: number, failed: number, verified: number, cost: number, seconds: number, waiting?: { tasks: number, code: string, message: string } }

/** Progress: a rewritten line on a terminal, a plain line a second otherwise. */
class MapProgress {
  private readonly tty = process.stderr.isTTY === true
  private readonly started = Date.now()
  private lastLine = 0
  private readonly total: number
  private readonly quiet: boolean
  private lastWaiting?: string

  constructor (total: number, quiet: boolean) {
    this.total = total
    this.quiet = quiet
  }

  update (done: number, failed: number, final = false): void {
    if (this.quiet) return
    const now = Date.now()
    if (!final && !this.tty && now - this.lastLine < 1000) return
    this.lastLine = now
    const seconds = Math.max(0.001, (now - this.started) / 1000)
    const rate = done / seconds
    const eta = rate > 0 ? Math.ceil((this.total - done) / rate) : undefined
    const width = 24
    const bar = '#'.repeat(Math.round(width * done / this.total)).padEnd(width, '.')
    const text = `[${bar}] ${done}/${this.total} done · ${failed} failed · ${rate.toFixed(rate < 10 ? 1 : 0)} tasks/s${eta != null && done < this.total ? ` · ETA ${eta} s` : ''}`
    if (this.tty) process.stderr.write(`\r\x1b[2K${text}${final ? '\n' : ''}`)
    else process.stderr.write(text + '\n')
  }

  /** Why tasks wait for workers (the batch's progress events say so), one line per new reason. */
  waiting (reason: string | undefined): void {
    const changed = reason !== this.lastWaiting
    this.lastWaiting = reason
    if (this.quiet || reason == null || !changed) return
    process.stderr.write(`${this.tty ? '\r\x1b[2K' : ''}waiting: ${printable(reason)}\n`)
  }

  /** The batch's id, as soon as the daemon accepted it: what finds it again (`depin batch ID`). */
  accepted (id: string): void {
    if (!this.quiet) process.stderr.write(`batch ${id} (${this.total} task${this.total === 1 ? '' : 's'})\n`)
  }

  /** Ctrl-C: clear the progress line and say how to find the batch again (printed with --json too, as submit does). */
  interrupt (id: string): void {
    process.stderr.write(`${this.tty ? '\r\x1b[2K' : ''}batch ${id} goes on without this command (${duration(Date.now() - this.started)} so far).\n` +
      `  follow it:  depin batch ${id}\n` +
      `  cancel it:  depin cancel ${id}\n`)
  }
}

async function outputOf (client: ApiClient, id: string, task: TaskEvent): Promise<Uint8Array> {
  if (task.stdout != null) return Buffer.from(task.stdout, 'base64')
  if (task.outputCid == null) return new Uint8Array(0)
  const response = await client.request(`/v1/batches/${encodeURIComponent(id)}/tasks/${task.index}/output`)
  await assertOk(response)
  return await response.bytes()
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
  const response = await interruptibleUpload('batch', async () => await client.uploadParts('/v1/batches', parts))
  await assertOk(response)
  const { id } = JSON.parse(await response.text()) as { id: string }

  // results.jsonl that cannot be written: nothing more can be recorded, so stop, saying where the batch is.
  const cannotWrite = (err: unknown): DepinError => new DepinError(`--out: ${notWritable(err, resultsFile, opts.out).message}; batch ${id} goes on in the daemon: follow it with \`depin batch ${id}\``, 'ERR_OUTPUT_NOT_WRITABLE', { cause: err })
  const appendResult = async (text: string): Promise<void> => { await results.write(text).catch((err: unknown) => { throw cannotWrite(err) }) }
  await results.truncate(0).catch((err: unknown) => { throw cannotWrite(err) })
  const progress = new MapProgress(inputs.length, opts.json === true)
  progress.accepted(id)
  let done = 0
  let failed = 0
  // Counted here: the summary's `verified` also counts tasks whose replicas agree they failed.
  let verifiedCompleted = 0
  let fuel = 0n
  let filesWritten = 0
  let notSaved = 0
  let summary: Summary | undefined
  // The batch goes on in the daemon whatever happens to this command: Ctrl-C and a daemon that
  // stops say so, with how to find it again.
  const lost = (cause?: unknown): DepinError => new DepinError(`the daemon stopped reporting batch ${id} before it ended (${done} of ${summary?.tasks ?? inputs.length} tasks in ${resultsFile}); it resumes when the node starts again: follow it with \`depin batch ${id}\``, 'ERR_BATCH_LOST', { cause })
  const release = onInterrupt(() => { progress.interrupt(id) })
  try {
    // No overall deadline: the daemon ends the stream when the batch ends (it may run for hours).
    for await (const { event, data } of serverEvents(client, `/v1/batches/${encodeURIComponent(id)}/events`)) {
      if (event === 'task') {
        const task = data as TaskEvent
        // The names are ours (the daemon echoes what we sent): they decide where files go.
        const name = inputs[task.index]?.name ?? String(task.index)
        let filesError: string | undefined
        if (task.outputCid != null) {
          try {
            // Like the files: written only under --out, never through a symlink or into a FIFO.
            await writeOutputTree(opts.out, [{ path: `${name}.out`, bytes: await outputOf(client, id, task) }])
          } catch (err) {
            // A stdout file that cannot be written (disk full, a name the file system refuses,
            // something in the way) is this task's line's error; the other tasks go on, and the
            // exit status says so.
            if (!(err instanceof DepinError) || connectionLost(err)) throw err
            filesError = `its stdout could not be written: ${err.message}`
            notSaved++
          }
        }
        if (task.files != null && task.files.length > 0 && filesError == null) {
          try {
            filesWritten += (await downloadFiles(client, `/v1/batches/${encodeURIComponent(id)}/tasks/${task.index}`, task.files, opts.out, name)).files
          } catch (err) {
            // One task's files that cannot be written do not stop the others; the exit status says so.
            if (!(err instanceof DepinError) || connectionLost(err)) throw err
            filesError = err.message
            notSaved++
          }
        }
        if (task.fuel != null) fuel += BigInt(task.fuel)
        const line = {
          name,
          status: task.status,
          exitCode: task.exitCode,
          ...(task.trap != null ? { trap: task.trap } : {}),
          outputCid: task.outputCid,
          ...(task.fuel != null ? { fuel: task.fuel } : {}),
          ...(task.filesCid != null ? { filesCid: task.filesCid } : {}),
          files: task.files ?? [],
          verified: task.verified,
          workers: task.workers,
          ...(task.error != null ? { error: task.error.message } : {}),
          ...(filesError != null ? { filesError } : {})
        }
        await appendResult(JSON.stringify(line) + '\n')
        done++
        if (task.status !== 'completed') failed++
        else if (task.verified) verifiedCompleted++
        progress.update(done, failed)
      } else if (event === 'progress') {
        progress.waiting((data as { waiting?: string }).waiting)
      } else if (event === 'done') {
        summary = data as Summary
        break
      }
    }
  } catch (err) {
    if (!connectionLost(err)) throw err
    progress.update(done, failed, true)
    throw lost(err)
  } finally {
    release()
  }
  progress.update(done, failed, true)
  // (a daemon that stopped mid-batch ends the stream without every task, or says so in `done`)
  if (summary == null || summary.status === 'running' || done < summary.tasks) throw lost()
  const report = {
    batchId: id,
    tasks: summary.tasks,
    completed: summary.completed,
    failed: summary.failed,
    verified: summary.verified,
    seconds: summary.seconds,
    tasksPerSecond: summary.seconds > 0 ? Math.round(summary.tasks / summary.seconds * 10) / 10 : summary.tasks,
    fuel: fuel.toString(),
    files: filesWritten,
    cost: creditAmount(summary.cost)
  }
  if (opts.json === true) printJson(report)
  else process.stderr.write(`batch ${id}: ${report.completed}/${report.tasks} completed, ${verifiedCompleted} verified, ${report.failed} not completed · ${report.seconds.toFixed(1)} s · fuel ${report.fuel} · cost ${credits(report.cost)} · ${filesWritten} output file${filesWritten === 1 ? '' : 's'} · outputs in ${opts.out}\n`)
  if (summary.failed > 0) throw new BatchFailedError(`${summary.failed} of ${summary.tasks} tasks did not complete; see ${resultsFile}`)
  if (notSaved > 0) throw new BatchFailedError(`the outputs of ${notSaved} task${notSaved === 1 ? '' : 's'} could not be written; see filesError in ${resultsFile}`)
}
