/**
 * The requester's side of `/depin/lease-tail/1.0.0` (docs/protocol.md, "Lease tails"): a worker
 * whose lease stream died names the lease; this node answers what it received on it (from the
 * account kept in tail-accounts.ts), checks the checkpoint the worker signs at that count exactly
 * as a checkpoint on the lease stream, and answers the acknowledgement, which pays what its
 * verdicts make payable (once their records are written). A worker whose checkpoint does not
 * check out is scored down and its tail forgotten: like a bad checkpoint on the lease, it stays
 * unpaid. Errors are answered with an error frame.
 */
import { logger } from '@libp2p/logger'
import { DeadlineExceededError, DepinError, InvalidMessageError, InvalidSignatureError, MessageTooLargeError } from '../../errors.ts'
import type { PeerActionName } from '../../shared/peer-actions.ts'
import type { Channel } from '../../transport.ts'
import { CheckpointError, TailError } from '../errors.ts'
import { parseTailCheckpoint, parseTailRequest } from '../lease-tail-frames.ts'
import { closeServed } from '../served.ts'
import type { TailAccounts } from './tail-accounts.ts'

const log = logger('depin:requester:tail')

/** How one lease-tail exchange ended, for the operator (the scheduler's `lease:tail-served`). */
export interface TailServed {
  /** The lease named (absent when the first frame could not be read). */
  leaseId?: string
  /** The peer that claimed it. */
  worker: string
  /**
   * `paid`: acknowledged; `refused`: answered with an error (`code`), or the worker answered one
   * (`by` `worker`: its chain is not this one at that count, and the tail is forgotten).
   */
  outcome: 'paid' | 'refused'
  /** Paid: the results the acknowledgement covers, what it pays in all, and what it adds to the lease's last one. */
  tasks?: number
  paid?: number
  credits?: number
  code?: string
  by?: 'worker'
  /**
   * This node keeps the lease's account for that peer (its worker). A refusal of any other claim
   * (an unknown lease, another peer's, a frame that is not one) is one any peer can cause at will.
   */
  kept: boolean
}

export interface TailServerComponents {
  accounts: TailAccounts
  reportPeer: (peerId: string, action: PeerActionName) => void
  /** Each exchange's end (paid or refused). */
  onServed?: (served: TailServed) => void
}

/** Serves one inbound lease-tail stream. */
export async function serveTail (channel: Channel, c: TailServerComponents): Promise<void> {
  const from = channel.remotePeer
  let leaseText: string | undefined
  // Acknowledged (and settled): paid, whether or not the frame reaches the worker.
  let acked = false
  let kept = false
  try {
    const request = parseTailRequest(await channel.receive())
    const id = leaseText = request.lease.toString()
    const entry = c.accounts.get(id)
    if (entry == null) throw new TailError(`no tail of lease ${id} kept here`, 'ERR_UNKNOWN_LEASE')
    if (entry.payer.worker !== from) throw new TailError(`lease ${id} is not ${from}'s`, 'ERR_NOT_LEASE_WORKER', true)
    kept = true
    if (entry.busy) throw new TailError(`an exchange of lease ${id} is under way`, 'ERR_TAIL_BUSY')
    entry.busy = true
    try {
      const point = entry.payer.tailPoint()
      await channel.send({ t: 'received', seq: point.seq, count: point.count, root: point.root })
      const answer = parseTailCheckpoint(await channel.receive())
      if (answer.t === 'error') {
        // The worker's chain is not this one at that count: nothing here can be settled.
        log('worker %s cannot settle the tail of lease %s: %s %s', from, id, answer.code, answer.message)
        c.accounts.drop(id)
        c.onServed?.({ leaseId: id, worker: from, outcome: 'refused', code: answer.code, by: 'worker', kept })
        await closeServed(channel)
        return
      }
      const ack = await entry.payer.settleTail(answer.checkpoint, point.count)
      acked = true
      log('acknowledged the tail of lease %s: %d results, %d credits paid', id, ack.body.count, ack.body.paid)
      c.onServed?.({ leaseId: id, worker: from, outcome: 'paid', tasks: ack.body.count, paid: ack.body.paid, credits: Math.max(0, ack.body.paid - point.paid), kept })
      await channel.send({ t: 'ack', ack })
    } finally {
      entry.busy = false
    }
    await closeServed(channel)
  } catch (err) {
    await answerError(channel, c, err as Error, leaseText, acked, kept)
  }
}

async function answerError (channel: Channel, c: TailServerComponents, err: Error, leaseText: string | undefined, acked: boolean, kept: boolean): Promise<void> {
  const from = channel.remotePeer
  const e = err as DepinError
  // [blame] a checkpoint that does not check out: as on the lease stream, the worker's fault.
  if (err instanceof CheckpointError) {
    c.reportPeer(from, 'WrongResult')
    if (leaseText != null) c.accounts.drop(leaseText)
  } else if (err instanceof InvalidSignatureError) c.reportPeer(from, 'InvalidSignature')
  else if (err instanceof InvalidMessageError || err instanceof MessageTooLargeError) c.reportPeer(from, 'MalformedMessage')
  else if (err instanceof DeadlineExceededError) c.reportPeer(from, 'Timeout')
  if (typeof e.code !== 'string') log.error('lease tail with %s failed: %e', from, err)
  else log('lease tail with %s refused: %s', from, err.message)
  const code = (e.code ?? 'ERR_INTERNAL').slice(0, 64)
  if (!acked) c.onServed?.({ ...(leaseText != null ? { leaseId: leaseText } : {}), worker: from, outcome: 'refused', code, kept })
  await channel.send({ t: 'error', code, message: (err.message ?? 'error').slice(0, 500) }).catch(() => {})
  // (after a frame that could not be read, what follows on the stream is torn down by closeServed)
  await closeServed(channel)
}
