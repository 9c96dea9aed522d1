/**
 * What a task came to, from the quorum's decision, the spot check and the results: its status
 * word (one that does not lie: a run that timed out is `timed-out`, a module that could not run
 * is `failed`, replicas that disagree are `unverified` with no answer), its output, and its cost.
 */
import { CID } from 'multiformats/cid'
import { cidText, rawCid } from '../../proofs/encoding.ts'
import type { ReplicaRecord } from '../job-store.ts'
import type { TaskOutcome } from '../run-task.ts'
import type { Verdict } from './quorum.ts'
import type { PlacementWait } from './placement.ts'
import type { ReplicaResult, TaskVerdict, TaskWork } from './types.ts'
import { OUT_OF_FUEL_TRAP } from '../executor/metering/constants.ts'
import { EMPTY_MANIFEST, manifestCid } from '../files/manifest.ts'

/** The empty tree's manifest CID: a result naming it left no files, as one without `files`. */
const NO_FILES = cidText(manifestCid(EMPTY_MANIFEST))

/** Traps that mean the module could not run at all (see run-task.ts). */
const MODULE_FAULTS = /^(InvalidModuleError|ForbiddenImportError|UnmeterableModuleError|ReservedExportError|MemoryLimitError|ModuleCidMismatchError):/

/**
 * What replicas are compared by: stdout's CID, the exit code, the fuel used and the output
 * manifest's CID (every file the run wrote). Equal keys agree. The empty manifest and no `files`
 * are one outcome (no files), so two honest encodings of it agree.
 */
export function keyOfResult (r: { outputCid: { toString: () => string }, exitCode: number, fuel: bigint, files?: { cid: { toString: () => string } } }): string {
  const files = r.files != null ? textOf(r.files.cid) : NO_FILES
  return `${textOf(r.outputCid)}/${r.exitCode}/${r.fuel}/${files === NO_FILES ? '-' : files}`
}

function textOf (cid: { toString: () => string }): string {
  const c = CID.asCID(cid)
  return c != null ? cidText(c) : cid.toString()
}

/** The key of a local run (the spot check), as `keyOfResult` of the same result from a worker. */
export function keyOfOutcome (local: TaskOutcome): string {
  return keyOfResult(outputOfOutcome(local))
}

/** A local run as an accepted output. */
export function outputOfOutcome (local: TaskOutcome): NonNullable<TaskVerdict['output']> {
  const outputs = local.outputs != null && local.outputs.files.length > 0 ? local.outputs : undefined
  return {
    stdout: local.stdout,
    stderr: local.stderr,
    exitCode: local.exitCode,
    trap: local.trap,
    outputCid: rawCid(local.stdout),
    fuel: local.fuel ?? 0n,
    ...(outputs != null ? { files: { cid: outputs.manifestCid, manifest: outputs.manifest, manifestBytes: outputs.manifestBytes, files: outputs.files.map((f) => ({ path: f.path, bytes: f.bytes })) } } : {})
  }
}

export interface VerdictInput {
  work: TaskWork
  verdict: Exclude<Verdict, { kind: 'wait' } | { kind: 'more' }>
  /** The key of the output shown: the quorum's, the local run's when the spot check disagreed, or the only one when too few replicas came back. */
  outputKey?: string
  /** The key of the output paid for (undefined: nobody is paid). */
  paidKey?: string
  results: ReplicaResult[]
  records: ReplicaRecord[]
  spotCheck?: 'passed' | 'failed' | 'not-checked'
  local?: TaskOutcome
  /** Why the task still lacked replicas (decided at its deadline, with the results in hand). */
  wait?: PlacementWait
}

/**
 * A task that reached its deadline with no result: `failed` with why it waited for workers when
 * that was why (`wait`: nothing ran it and no worker known could), else `timed-out`.
 */
export function deadlineVerdict (records: ReplicaRecord[], wait?: PlacementWait): TaskVerdict {
  const base = { verified: false, replicas: records, agreeing: [], cost: 0 }
  return wait != null
    ? { ...base, status: 'failed', error: { code: wait.code, message: `the deadline passed while the task waited for workers: ${wait.message}`, reasons: wait.reasons } }
    : { ...base, status: 'timed-out', error: { code: 'ERR_JOB_TIMEOUT', message: `task reached its deadline with no result (${records.length} placement(s) tried)` } }
}

export function verdictOf (input: VerdictInput): TaskVerdict {
  const { verdict, outputKey, paidKey, results, records, spotCheck, local } = input
  const agreeing = outputKey == null ? [] : results.filter((r) => keyOfResult(r) === outputKey)
  const verified = verdict.kind === 'verified' && spotCheck !== 'failed'
  const cost = paidKey == null ? 0 : results.filter((r) => keyOfResult(r) === paidKey).reduce((sum, r) => sum + r.cost, 0)
  const base = { verified, replicas: records, agreeing: agreeing.map((r) => r.worker), cost, ...(spotCheck != null ? { spotCheck } : {}) }
  if (outputKey == null) {
    const outputs = new Set(results.map(keyOfResult)).size
    return { ...base, status: 'unverified', error: { code: 'ERR_NO_QUORUM', message: `the replicas did not agree (${results.length} results, ${outputs} different: stdout, exit code, fuel or files differ)` } }
  }
  const first = agreeing[0]
  const source = spotCheck === 'failed' && local != null
    ? outputOfOutcome(local)
    : { stdout: first.stdout, stderr: first.stderr, exitCode: first.exitCode, trap: first.trap, outputCid: first.outputCid, fuel: first.fuel, ...(first.files != null ? { files: first.files } : {}) }
  if (source.trap != null && MODULE_FAULTS.test(source.trap)) {
    return { ...base, status: 'failed', output: source, error: { code: 'ERR_INVALID_MODULE', message: source.trap } }
  }
  if (source.exitCode === -1 && source.trap === OUT_OF_FUEL_TRAP) {
    return { ...base, status: verified ? 'failed' : 'unverified', output: source, error: { code: 'ERR_OUT_OF_FUEL', message: `the program used its whole fuel limit of ${input.work.spec.fuel}` } }
  }
  if (source.exitCode === -1 && source.trap === 'timeout') {
    return { ...base, status: 'timed-out', output: source, error: { code: 'ERR_TASK_TIMEOUT', message: `the program ran past its time limit of ${input.work.requirements.timeoutMs / 1000} s` } }
  }
  if (verified) return { ...base, status: 'completed', output: source }
  if (spotCheck !== 'failed' && input.wait != null) {
    // Too few replicas because too few workers were known: the error says so.
    const message = `too few replicas for the quorum (${agreeing.length} of ${input.work.quorum} needed) by the deadline: ${input.wait.message}; nobody is paid`
    return { ...base, status: 'unverified', output: source, error: { code: input.wait.code, message, reasons: input.wait.reasons } }
  }
  const why = spotCheck === 'failed'
    ? 'a spot check here disagreed with the workers; the output is this node\'s own run'
    : `too few replicas for the quorum (${agreeing.length} of ${input.work.quorum} needed); nobody is paid`
  return { ...base, status: 'unverified', output: source, error: { code: 'ERR_NOT_VERIFIED', message: why } }
}
