/**
 * Following a batch into a directory, as `depin map` does once its batch is accepted and
 * `depin batch ID --out DIR` does for a batch whose `map` stopped (Ctrl-C, a daemon that went
 * down): every task that ended (those so far, replayed by the daemon, then each as it ends) gets
 * its stdout in DIR/<name>.out, its files in DIR/<name>/ and a line in DIR/results.jsonl, with a
 * progress line; the summary at the end. Throws when the batch did not complete, when outputs
 * could not be written, or when the daemon stopped reporting the batch before it ended.
 */
import type { FileHandle } from 'node:fs/promises'
import { DepinError } from '../errors.ts'
import { notWritable, writeOutputTree } from '../scheduler/files/disk.ts'
import type { OutputFileInfo } from '../scheduler/requester/trees.ts'
import { assertOk, type ApiClient } from './client.ts'
import { serverEvents } from './events.ts'
import { connectionLost, onInterrupt } from './interrupt.ts'
import { downloadFiles } from './files.ts'
import { creditAmount, credits, duration, printable, printJson } from './output.ts'

/** Some tasks of a batch did not complete. */
export class BatchFailedError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_BATCH_FAILED')
  }
}

/** results.jsonl that cannot be written: nothing more can be recorded, so stop, saying where the batch is. */
export function cannotWriteResults (err: unknown, resultsFile: string, out: string, id: string): DepinError {
  return new DepinError(`--out: ${notWritable(err, resultsFile, out).message}; batch ${id} goes on in the daemon: see it with \`depin batch ${id}\``, 'ERR_OUTPUT_NOT_WRITABLE', { cause: err })
}

export interface FollowOptions {
  out: string
  /** DIR/results.jsonl, open for appending. */
  results: FileHandle
  resultsFile: string
  /** Tasks in the batch (for the progress line until the daemon's summary says). */
  total: number
  json: boolean
  /** The name a task's outputs go under in DIR. */
  nameOf: (task: TaskEvent) => string
  /** Names results.jsonl lists already: counted, not written again. */
  skip?: Set<string>
  /** Say `batch ID (N tasks)` first (map: the daemon just accepted it). */
  accepted?: boolean
  /** Releases the signals' previous holder (the upload's) once following holds them (see `onInterrupt`). */
  handOver?: () => void
}

export interface TaskEvent {
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
  interrupt (id: string, out: string): void {
    process.stderr.write(`${this.tty ? '\r\x1b[2K' : ''}batch ${id} goes on without this command (${duration(Date.now() - this.started)} so far).\n` +
      `  follow it:  depin batch ${id} --out ${out}\n` +
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

export async function followBatch (client: ApiClient, id: string, opts: FollowOptions): Promise<void> {
  const { out, results, resultsFile } = opts
  const appendResult = async (text: string): Promise<void> => { await results.write(text).catch((err: unknown) => { throw cannotWriteResults(err, resultsFile, out, id) }) }
  const progress = new MapProgress(opts.total, opts.json)
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
  const lost = (cause?: unknown): DepinError => new DepinError(`the daemon stopped reporting batch ${id} before it ended (${done} of ${summary?.tasks ?? opts.total} tasks in ${resultsFile}); it resumes when the node starts again: follow it with \`depin batch ${id} --out ${out}\``, 'ERR_BATCH_LOST', { cause })
  const release = onInterrupt(() => { progress.interrupt(id, out) })
  // The id is printed only once a signal says where the batch went on (a `map` interrupted right
  // after printing it died of the signal), and the upload's holder lets go only now.
  opts.handOver?.()
  if (opts.accepted === true) progress.accepted(id)
  try {
    // No overall deadline: the daemon ends the stream when the batch ends (it may run for hours).
    for await (const { event, data } of serverEvents(client, `/v1/batches/${encodeURIComponent(id)}/events`)) {
      if (event === 'task') {
        const task = data as TaskEvent
        const name = opts.nameOf(task)
        let filesError: string | undefined
        if (opts.skip?.has(name) === true) {
          // Already in results.jsonl (an earlier `map` or `batch --out` wrote it): counted, not written again.
          done++
          if (task.fuel != null) fuel += BigInt(task.fuel)
          if (task.status !== 'completed') failed++
          else if (task.verified) verifiedCompleted++
          progress.update(done, failed)
          continue
        }
        if (task.outputCid != null) {
          try {
            // Like the files: written only under --out, never through a symlink or into a FIFO.
            await writeOutputTree(out, [{ path: `${name}.out`, bytes: await outputOf(client, id, task) }])
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
            filesWritten += (await downloadFiles(client, `/v1/batches/${encodeURIComponent(id)}/tasks/${task.index}`, task.files, out, name)).files
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
  if (opts.json) printJson(report)
  else process.stderr.write(`batch ${id}: ${report.completed}/${report.tasks} completed, ${verifiedCompleted} verified, ${report.failed} not completed · ${report.seconds.toFixed(1)} s · fuel ${report.fuel} · cost ${credits(report.cost)} · ${filesWritten} output file${filesWritten === 1 ? '' : 's'} · outputs in ${out}\n`)
  if (summary.failed > 0) throw new BatchFailedError(`${summary.failed} of ${summary.tasks} tasks did not complete; see ${resultsFile}`)
  if (notSaved > 0) throw new BatchFailedError(`the outputs of ${notSaved} task${notSaved === 1 ? '' : 's'} could not be written; see filesError in ${resultsFile}`)
}
