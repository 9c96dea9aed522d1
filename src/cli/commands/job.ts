/**
 * `depin job ID [-o FILE] [--out DIR] [--wait | --follow]`: one job; wait for it or follow its
 * events; write its output (stdout) to FILE and the files it left in /out into DIR.
 */
import { writeFile } from 'node:fs/promises'
import type { JobDetailView } from '../../node/api/job-view.ts'
import { createClient } from '../client.ts'
import { UsageError } from '../errors.ts'
import { checkOutputFile } from '../output-file.ts'
import { assertSucceeded, isFinished, stateText } from '../job-format.ts'
import { credits, line, printable, printJson, printTable } from '../output.ts'
import type { JobOptions } from '../program.ts'
import { ProgressView } from '../progress.ts'
import { fetchOutput, followJob, getJob, waitForJob } from '../wait.ts'
import { writtenText, type Written } from '../files-text.ts'

/** Most output files listed in text (`--json` lists them all). */
const MAX_FILES_SHOWN = 20

/** Why a job has nothing to write yet (or ever): the line `-o` and `--out` end with. */
function noOutput (job: JobDetailView, id: string, target: string, flag: string): UsageError {
  return new UsageError(isFinished(job)
    ? `job ${id} ${job.status === 'cancelled' ? 'was cancelled' : job.status === 'timed-out' ? 'timed out' : 'failed'} before it produced output; nothing was written to ${target}`
    : `job ${id} is ${job.status}; it has no output yet, nothing was written to ${target} (wait for it: depin job ${id} --wait ${flag} ${target})`)
}

/**
 * A lease this node served for a peer (a `depin jobs` row of role worker): its output, files and
 * progress are the requester's, so `-o`, `--out`, `--wait` and `--follow` say where they went.
 */
function refuseServedLease (job: JobDetailView, opts: JobOptions): void {
  const ran = `${job.id} ran here for a peer: its output went back to ${job.requester}`
  if (opts.output != null) throw new UsageError(`${ran}; nothing was written to ${opts.output}`)
  if (opts.out != null) throw new UsageError(`${ran}; nothing was written to ${opts.out}`)
  if (opts.wait === true || opts.follow === true) {
    throw new UsageError(`${ran}; there is nothing to ${opts.wait === true ? 'wait for' : 'follow'} here (it is ${stateText(job)}; \`depin job ${job.id}\` shows it)`)
  }
}

export async function jobCommand (id: string, opts: JobOptions): Promise<void> {
  if (opts.output != null) await checkOutputFile(opts.output)
  const client = await createClient(opts)
  let job = await getJob(client, id)
  if (job.role !== 'requester') refuseServedLease(job, opts)
  if (!isFinished(job) && opts.follow === true) {
    job = await followJob(client, id, opts.json === true)
  } else if (!isFinished(job) && opts.wait === true) {
    const view = new ProgressView({ jobId: id, replicas: job.replicas, quiet: opts.json === true })
    job = await waitForJob(client, id, view, { since: job.createdAt })
  }
  if (opts.output != null) {
    if (job.outputCid == null) throw noOutput(job, id, opts.output, '-o')
    await writeFile(opts.output, await fetchOutput(client, id))
  }
  let written: Written | undefined
  if (opts.out != null) {
    if (job.outputCid == null) throw noOutput(job, id, opts.out, '--out')
    if (job.files == null) throw new UsageError(`the files of job ${id} are no longer kept (pruned); nothing was written to ${opts.out}`)
    const { downloadFiles } = await import('../files.ts')
    written = await downloadFiles(client, `/v1/jobs/${encodeURIComponent(id)}`, job.files, opts.out)
  }
  if (opts.json === true) printJson(job)
  else printJob(job, opts.output, written)
  if (opts.wait === true || opts.follow === true) assertSucceeded(job)
}

function printJob (job: JobDetailView, output?: string, written?: Written): void {
  line(`job:       ${job.id}`)
  // Worker- and peer-chosen text (module name, errors, trap, file names, stderr) is shown escaped.
  line(`module:    ${printable(job.module)}${job.moduleCid !== '' && job.module !== job.moduleCid ? ` (${job.moduleCid})` : ''}`)
  line(`role:      ${job.role === 'requester' ? 'requested here' : `ran here for ${job.requester}`}`)
  line(`status:    ${stateText(job)}`)
  if (job.error != null && job.reason !== job.error.message) line(`error:     ${printable(`${job.error.code}: ${job.error.message}`)}`)
  if (job.exitCode != null) line(`exit code: ${job.exitCode}${job.trap != null ? ` (${printable(job.trap)})` : ''}`)
  if (job.role === 'requester') {
    // Only a completed job is verified in words: replicas that agree it failed or timed out did not verify a result.
    const ended = job.status === 'timed-out' ? 'timed out' : job.status === 'cancelled' ? 'was cancelled' : job.status === 'failed' ? 'failed' : 'has not ended'
    const verified = job.status === 'completed' ? (job.verified ? 'yes' : 'no') : `no (the job ${ended}${job.verified ? '; its replicas agree on that' : ''})`
    line(`verified:  ${verified}${job.spotCheck != null ? ` (spot check ${job.spotCheck})` : ''} · ${job.quorum} of ${job.replicas} replica(s) must agree`)
    line(`cost:      ${credits(job.cost ?? 0)}`)
  } else {
    // A lease served here: what the requester acknowledged (the `jobs` table's cost), or what the chain paid when more.
    line(`earned:    ${credits(job.cost ?? 0)}`)
  }
  if (job.fuel != null || job.fuelLimit != null) line(`fuel:      ${job.fuel ?? '-'}${job.fuelLimit != null ? ` (limit ${job.fuelLimit})` : ''}`)
  if (job.inFiles != null) line(`in:        ${job.inFiles.cid} (${job.inFiles.bytes} bytes)`)
  if (job.outputCid != null) line(`output:    ${job.outputCid} (${job.outputBytes} bytes)${output != null ? ` → ${output}` : ''}`)
  if (job.files != null && job.files.length > 0) {
    line(`files:     ${job.files.length} in /out${job.filesCid != null ? `, manifest ${job.filesCid}` : ''}${written != null ? `; ${writtenText(written)}` : ''}`)
    printTable(['  PATH', 'BYTES', 'CID'], job.files.slice(0, MAX_FILES_SHOWN).map((f) => [`  ${f.path}`, f.size, f.cid]), { shrink: [0] })
    if (job.files.length > MAX_FILES_SHOWN) line(`  … and ${job.files.length - MAX_FILES_SHOWN} more (--json lists them all)`)
  } else if (written != null) {
    line(`files:     none in /out; ${writtenText(written)}`)
  }
  if (job.workers.length > 0) {
    line('workers:')
    printTable(['  PEER', 'STATUS', 'EXIT', 'AGREED', 'FUEL', 'CPU ms', 'COST', 'ERROR'], job.workers.map((w) => [
      `  ${w.peerId}`, w.status, w.exitCode, w.agreed == null ? undefined : w.agreed ? 'yes' : 'no', w.fuel, w.cpuMs, w.cost, w.error
    ]), { shrink: [7] })
  }
  if (job.stderr.length > 0) line(`stderr:\n${printable(job.stderr, { lines: true })}`)
}
