/**
 * The miner: keeps one worker thread hashing a block template on the current tip.
 *
 * - `refresh()` (called on every tip change, and every `refreshMs` for a fresh timestamp and
 *   mempool) builds a new template and hands it to the worker; the worker abandons the old job
 *   within one batch (it watches a shared Atomics control word).
 * - `stop()` flips the control word and terminates the worker: it returns promptly even in the
 *   middle of a batch.
 */
import { Worker } from 'node:worker_threads'
import { randomInt } from 'node:crypto'
import { logger } from '@libp2p/logger'
import { encode } from '../proofs/encoding.ts'
import { prepareMining } from '../proofs/pow.ts'
import type { BlockHeader } from './block.ts'
import type { TxInfo } from './tx.ts'
import type { MinerJob, MinerMessage } from './miner-worker.ts'

const log = logger('depin:ledger:miner')

/** A block to mine: the header (its nonce is overwritten) and its transactions, coinbase first. */
export interface BlockTemplate {
  header: BlockHeader
  txs: TxInfo[]
}

export interface MinerComponents {
  /** Builds a template on the current tip. */
  buildTemplate(): Promise<BlockTemplate>
  /** Called with a solved header; the caller adds and publishes the block. */
  onFound(header: BlockHeader, txs: TxInfo[]): Promise<void>
}

export interface MinerInit {
  /** Nonces per batch between checks of the control word. */
  batch: number
  /** How often to rebuild the template while nothing else changes. */
  refreshMs: number
}

export interface MinerStats {
  running: boolean
  /** Hashes computed since start. */
  hashes: number
  /** Blocks found since start. */
  found: number
  /** Templates handed to the worker since start (one per tip change or refresh). */
  templates: number
}

function workerUrl (): URL {
  // Running from source (type stripping), the worker is the .ts file; built, the .js beside this one.
  return new URL(import.meta.url.endsWith('.ts') ? './miner-worker.ts' : './miner-worker.js', import.meta.url)
}

export class Miner {
  private readonly components: MinerComponents
  private readonly init: MinerInit
  private worker?: Worker
  private readonly control = new Int32Array(new SharedArrayBuffer(4))
  private jobId = 0
  private current?: { id: number, template: BlockTemplate }
  private timer?: ReturnType<typeof setInterval>
  private refreshing?: Promise<void>
  private refreshAgain = false
  private stats = { hashes: 0, found: 0, templates: 0 }
  private exited?: Promise<void>

  constructor (components: MinerComponents, init: MinerInit) {
    this.components = components
    this.init = init
  }

  get running (): boolean {
    return this.worker != null
  }

  getStats (): MinerStats {
    return { running: this.running, ...this.stats }
  }

  start (): void {
    if (this.worker != null) return
    const worker = new Worker(workerUrl())
    this.worker = worker
    this.exited = new Promise((resolve) => worker.once('exit', () => { resolve() }))
    worker.on('message', (msg: MinerMessage) => { this.onMessage(msg) })
    worker.on('error', (err) => { log.error('miner worker failed: %e', err) })
    worker.unref()
    this.timer = setInterval(() => { this.refresh() }, this.init.refreshMs)
    this.timer.unref?.()
    log('miner started')
    this.refresh()
  }

  /** Stops hashing now: the worker sees the control word within a batch and is terminated. */
  async stop (): Promise<void> {
    const worker = this.worker
    if (worker == null) return
    this.worker = undefined
    this.current = undefined
    if (this.timer != null) clearInterval(this.timer)
    this.timer = undefined
    Atomics.store(this.control, 0, -1)
    await worker.terminate()
    await this.exited
    log('miner stopped')
  }

  /** Rebuilds the template (coalesced: at most one build at a time, plus one queued). */
  refresh (): void {
    if (this.worker == null) return
    if (this.refreshing != null) {
      this.refreshAgain = true
      return
    }
    this.refreshing = this.rebuild()
      .catch((err) => { log.error('could not build a block template: %e', err) })
      .finally(() => {
        this.refreshing = undefined
        if (this.refreshAgain) {
          this.refreshAgain = false
          this.refresh()
        }
      })
  }

  private async rebuild (): Promise<void> {
    const template = await this.components.buildTemplate()
    const worker = this.worker
    if (worker == null) return
    const id = ++this.jobId
    const prepared = prepareMining((nonce) => encode({ ...template.header, nonce }))
    this.current = { id, template }
    this.stats.templates++
    Atomics.store(this.control, 0, id)
    const job: MinerJob = {
      id,
      bytes: prepared.bytes,
      nonceOffset: prepared.nonceOffset,
      target: template.header.target,
      control: this.control.buffer as SharedArrayBuffer,
      startHi: randomInt(0, 0x7fffffff),
      batch: this.init.batch
    }
    worker.postMessage(job)
  }

  private onMessage (msg: MinerMessage): void {
    this.stats.hashes += msg.hashes
    if (!('nonce' in msg)) return
    const current = this.current
    if (current == null || current.id !== msg.id) return
    this.current = undefined
    this.stats.found++
    const header = { ...current.template.header, nonce: new Uint8Array(msg.nonce) }
    this.components.onFound(header, current.template.txs)
      .catch((err) => { log('mined block was not accepted: %e', err) })
      .finally(() => { this.refresh() })
  }
}
