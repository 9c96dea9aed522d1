/**
 * Live progress of a job (and later of a batch) on stderr. On a terminal every stage stays on the
 * screen as a ticked line with its time, and a spinner (ora) shows the current one with the
 * elapsed time and how many replicas have answered; off a terminal each event is one plain line.
 * On Ctrl-C the spinner clears itself and the job id is printed with how to follow it.
 */
import type { Ora } from 'ora'
import { duration, printable, shortCid, shortPeer } from './output.ts'

/** One progress event as the API streams it. */
export interface ProgressEvent {
  jobId: string
  stage: string
  peerId?: string
  detail?: string
  at: number
}

const STAGE_TEXT: Record<string, string> = {
  queued: 'queued on this node',
  waiting: 'waiting for workers',
  accepted: 'accepted by',
  running: 'running on',
  result: 'result from',
  retry: 'retrying after a failure on',
  'spot-check': 'spot check: running it here too',
  verified: 'verified',
  completed: 'completed',
  unverified: 'unverified',
  failed: 'failed',
  'timed-out': 'timed-out',
  cancelled: 'cancelled'
}

/** Stages a job's progress ends with. */
const FINAL_STAGES = new Set(['completed', 'unverified', 'failed', 'timed-out', 'cancelled'])

/** What the job's record says once it ended (GET /v1/jobs/:id): the last word on how it ended. */
export interface EndedJob { status: string, verified: boolean, reason?: string }

/**
 * Words a job's stages so that only a job that succeeded reads as verified. The scheduler emits
 * `verified` (the replicas agree) before the final stage also when they agree the job failed or
 * timed out; it ends a program that exited non-zero with `completed (exit N)` (the API calls that
 * job `failed`); and a stream opened just as the job ended gets the record's bare status. So
 * `verified` and the final stage are held back: `settle` shows them from the ended job's record
 * (`verified` only for a completed, verified job), or without it guesses from the events.
 */
export class VerifiedWording {
  private verified?: ProgressEvent
  private final?: ProgressEvent

  /** The events to show now, in order, for this one. */
  push (event: ProgressEvent): ProgressEvent[] {
    if (event.stage === 'verified') this.verified = event
    else if (FINAL_STAGES.has(event.stage)) this.final = event
    else return [event]
    return []
  }

  /** The held events to show once the job ended; `job` is its record, when fetched. */
  settle (job?: EndedJob): ProgressEvent[] {
    const { verified, final } = this
    this.verified = this.final = undefined
    if (final == null) return []
    if (job != null) {
      const stage = job.status === 'completed' && !job.verified ? 'unverified' : job.status
      const detail = job.reason ?? final.detail
      const shown = { ...final, stage, ...(detail != null ? { detail } : {}) }
      return stage === 'completed' && verified != null ? [verified, shown] : [shown]
    }
    const exit = /^exit (-?\d+)$/.exec(final.detail ?? '')
    if (final.stage === 'completed' && exit != null && Number(exit[1]) !== 0) return [{ ...final, stage: 'failed' }]
    return final.stage === 'completed' && verified != null ? [verified, final] : [final]
  }
}

export interface ProgressViewInit {
  /** The id shown and printed on Ctrl-C (a job's, or a batch's). */
  jobId: string
  /** What the id names. @default 'job' */
  noun?: string
  /** How to follow it again / cancel it, printed on Ctrl-C. @default `depin job ID --follow`, `depin cancel ID` */
  followCommand?: string
  cancelCommand?: string
  /** Replicas the job asked for. */
  replicas?: number
  /** Print nothing (for --json, whose stdout is for programs). */
  quiet?: boolean
  /** Force plain lines (or force a spinner), else decided by whether stderr is a terminal. */
  tty?: boolean
  stream?: NodeJS.WriteStream
}

export class ProgressView {
  private readonly init: ProgressViewInit
  private readonly stream: NodeJS.WriteStream
  private readonly tty: boolean
  private spinner?: Ora
  private timer?: ReturnType<typeof setInterval>
  private started = Date.now()
  private current = 'submitting'
  private readonly results = new Set<string>()
  private readonly running = new Set<string>()
  private readonly wording = new VerifiedWording()

  constructor (init: ProgressViewInit) {
    this.init = init
    this.stream = init.stream ?? process.stderr
    this.tty = init.tty ?? this.stream.isTTY === true
  }

  /** Shows the job id and starts the spinner. */
  async start (since = Date.now()): Promise<void> {
    this.started = since
    if (this.init.quiet === true) return
    const replicas = this.init.replicas != null && this.init.replicas > 1 ? ` (${this.init.replicas} replicas)` : ''
    this.stream.write(`${this.noun} ${this.init.jobId}${replicas}\n`)
    if (!this.tty) return
    const { default: ora } = await import('ora')
    this.spinner = ora({ text: this.spinnerText(), stream: this.stream, discardStdin: false, isEnabled: true }).start()
    this.timer = setInterval(() => { if (this.spinner != null) this.spinner.text = this.spinnerText() }, 250)
  }

  update (event: ProgressEvent): void {
    if (event.peerId != null) {
      if (event.stage === 'accepted' || event.stage === 'running') this.running.add(event.peerId)
      if (event.stage === 'result') { this.results.add(event.peerId); this.running.delete(event.peerId) }
      if (event.stage === 'retry') this.running.delete(event.peerId)
    }
    if (this.init.quiet === true) return
    for (const shown of this.wording.push(event)) this.show(shown)
  }

  /** Shows how the job ended (held back by `update`), from its record when given. */
  finish (job?: EndedJob): void {
    const shown = this.wording.settle(job)
    if (this.init.quiet === true) return
    for (const event of shown) this.show(event)
  }

  private show (event: ProgressEvent): void {
    const text = describe(event)
    if (!this.tty) {
      this.stream.write(`${new Date(event.at).toISOString()} ${text}\n`)
      return
    }
    // The finished stage stays on screen, ticked, with the time it happened.
    const final = FINAL_STAGES.has(event.stage)
    const symbol = final && event.stage !== 'completed' ? '✖' : event.stage === 'retry' ? '!' : '✔'
    this.spinner?.stopAndPersist({ symbol, text: `${text}  ${duration(Math.max(0, event.at - this.started))}` })
    this.current = final ? text : nextStep(event)
    if (!final) this.spinner?.start(this.spinnerText())
  }

  /** Clears the spinner (the persisted stages stay). */
  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.spinner?.stop()
    this.spinner = undefined
  }

  /** Ctrl-C: clear the spinner line and say how to find the job again. */
  interrupt (): void {
    this.stop()
    this.stream.write(`${this.noun} ${this.init.jobId} goes on without this command (${duration(Date.now() - this.started)} so far).\n` +
      `  follow it:  ${this.init.followCommand ?? `depin job ${this.init.jobId} --follow`}\n` +
      `  cancel it:  ${this.init.cancelCommand ?? `depin cancel ${this.init.jobId}`}\n`)
  }

  private get noun (): string {
    return this.init.noun ?? 'job'
  }

  private spinnerText (): string {
    const parts = [`${this.current}`, `${this.noun} ${shortCid(this.init.jobId)}`, duration(Date.now() - this.started)]
    if (this.init.replicas != null) parts.push(`${this.results.size}/${this.init.replicas} replica${this.init.replicas === 1 ? '' : 's'} done`)
    if (this.running.size > 0) parts.push(`on ${[...this.running].map(shortPeer).join(', ')}`)
    return parts.join(' · ')
  }
}

/** One line for a progress event: `running on 12D3KooW…abc123`, `bid from … (2 credits/gigafuel)`. */
export function describe (event: ProgressEvent): string {
  // Everything but the stage words may carry what a peer chose (a worker's error, a requester's
  // reason): escaped, so that it cannot move the cursor, retitle the window or forge a line.
  // Why no (or not every) replica could be placed: the reason is the line.
  if (event.stage === 'waiting' && event.detail != null) return `waiting: ${printable(event.detail)}`
  const words = STAGE_TEXT[event.stage] ?? printable(event.stage)
  const who = event.peerId != null ? ` ${printable(shortPeer(event.peerId))}` : ''
  const detail = event.detail != null ? ` (${printable(event.detail)})` : ''
  // Keep the stage's own word first: scripts and tests grep for it.
  const stage = words.startsWith(event.stage) ? '' : `${printable(event.stage)}: `
  return `${stage}${words}${who}${detail}`
}

function nextStep (event: ProgressEvent): string {
  switch (event.stage) {
    case 'queued': return 'waiting for a lease'
    case 'waiting': return 'waiting for a capable worker'
    case 'accepted': return 'running'
    case 'running': return 'running'
    case 'result': return 'comparing results'
    case 'retry': return 'finding another worker'
    case 'spot-check': return 'spot-checking'
    case 'verified': return 'settling'
    default: return event.stage
  }
}
