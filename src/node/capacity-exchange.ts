/**
 * `/depin/capacity/1.0.0`: ask a peer directly for its capacity record and a sample of the
 * records of other peers it has found reachable. One query and one answer per stream.
 *
 *   query:  { t: 'capacity-query', runtime: text ≤ 32, sample: uint ≤ 16 }
 *   answer: { t: 'capacity', record?: bytes ≤ 4096, sample: [bytes ≤ 4096] ≤ 16 }
 *
 * `record` is the answering peer's own signed capacity record (absent when it advertises none);
 * `sample` holds signed records of other peers offering `runtime`. The asker verifies every
 * record; the answerer's own must be signed by the answerer, sampled ones by the peer they name.
 */
import { z } from 'zod'
import { DeadlineExceededError, InvalidMessageError, MessageTooLargeError, type DepinError } from '../errors.ts'
import { closeServed } from '../scheduler/served.ts'
import { bytes, parseWith, uint } from '../proofs/schema.ts'
import { ChannelClosedError, type Channel, type ChannelOpener } from '../transport.ts'
import { verifyCapacityRecordOf, type CapacityRecord } from './capacity-record.ts'
import {
  CAPACITY_PROTOCOL, CAPACITY_QUERY_TIMEOUT_MS, CAPACITY_SAMPLE_MAX, MAX_CAPACITY_ANSWER_BYTES,
  MAX_CAPACITY_QUERY_BYTES, MAX_CAPACITY_RECORD_BYTES
} from './constants.ts'
import { InvalidCapacityRecordError } from './errors.ts'

export const capacityQuerySchema = z.object({
  t: z.literal('capacity-query'),
  runtime: z.string().max(32),
  sample: uint.max(CAPACITY_SAMPLE_MAX)
}).strict()
export type CapacityQuery = z.infer<typeof capacityQuerySchema>

export const capacityAnswerSchema = z.object({
  t: z.literal('capacity'),
  record: bytes(undefined, MAX_CAPACITY_RECORD_BYTES).optional(),
  sample: z.array(bytes(undefined, MAX_CAPACITY_RECORD_BYTES)).max(CAPACITY_SAMPLE_MAX)
}).strict()
export type CapacityAnswer = z.infer<typeof capacityAnswerSchema>

/** A verified record with the bytes it came as (passed on unchanged in later samples). */
export interface VerifiedRecord {
  record: CapacityRecord
  bytes: Uint8Array
}

export interface CapacityReply {
  /** The answering peer's own record, verified. */
  own?: VerifiedRecord
  /** Sampled records that verified (other peers only). */
  sample: VerifiedRecord[]
  /** Sampled records that did not verify (expired in transit, or forged). */
  dropped: number
}

/** Serves one query on an inbound channel. `answer` builds the reply from the node's view. */
export async function serveCapacityQuery (channel: Channel, answer: (query: CapacityQuery, from: string) => CapacityAnswer, report?: (peer: string, action: 'MalformedMessage' | 'Timeout') => void): Promise<void> {
  let query: CapacityQuery
  try {
    query = parseWith(capacityQuerySchema, await channel.receive(), 'capacity query')
  } catch (err) {
    await refuseQuery(channel, err as Error, report)
    return
  }
  await channel.send(answer(query, channel.remotePeer))
  await channel.close()
}

/**
 * A query that could not be read: the querier hears why in an error frame (as on the other
 * request-answer protocols; docs/protocol.md, "Conventions") and loses score for a malformed or
 * oversized frame, or for silence past the deadline. A peer that closed without asking: nothing.
 */
async function refuseQuery (channel: Channel, err: Error, report?: (peer: string, action: 'MalformedMessage' | 'Timeout') => void): Promise<void> {
  const from = channel.remotePeer
  if (err instanceof InvalidMessageError || err instanceof MessageTooLargeError) report?.(from, 'MalformedMessage')
  else if (err instanceof DeadlineExceededError) report?.(from, 'Timeout')
  const code = (err as DepinError).code
  if (typeof code === 'string' && !(err instanceof ChannelClosedError)) await channel.send({ t: 'error', code: code.slice(0, 64), message: err.message.slice(0, 500) }).catch(() => {})
  // (what follows a frame that could not be read is torn down by closeServed)
  await closeServed(channel)
}

/**
 * Asks `peer` for its capacity. Throws `InvalidMessageError` for an answer that breaks the
 * schema or whose own record is not the peer's (a record of another peer in its place),
 * `MessageTooLargeError` for an oversized frame, and the channel's errors when the peer does not
 * answer in time.
 */
export async function queryCapacity (channels: ChannelOpener, peer: string, query: Omit<CapacityQuery, 't'>, options: { signal?: AbortSignal } = {}): Promise<CapacityReply> {
  const deadline = AbortSignal.timeout(CAPACITY_QUERY_TIMEOUT_MS)
  const signal = options.signal != null ? AbortSignal.any([options.signal, deadline]) : deadline
  const channel = await channels.open(peer, CAPACITY_PROTOCOL, { signal, maxFrameBytes: MAX_CAPACITY_ANSWER_BYTES, idleTimeoutMs: CAPACITY_QUERY_TIMEOUT_MS })
  let answer: CapacityAnswer
  try {
    await channel.send({ t: 'capacity-query', ...query }, { signal })
    answer = parseWith(capacityAnswerSchema, await channel.receive({ signal }), 'capacity answer')
  } catch (err) {
    channel.abort(err as Error)
    throw err
  }
  void channel.close()
  return checkAnswer(peer, answer)
}

/** Verifies an answer from `peer` (exported for unit tests of the rules). */
export function checkAnswer (peer: string, answer: CapacityAnswer, now = Date.now()): CapacityReply {
  let own: VerifiedRecord | undefined
  if (answer.record != null) {
    let record: CapacityRecord
    try {
      record = verifyCapacityRecordOf(answer.record, now)
    } catch (err) {
      throw new InvalidMessageError(`${peer} answered with an invalid capacity record: ${(err as Error).message}`, { cause: err })
    }
    // [REJECT] a peer's answer about itself carries its own record, not another peer's.
    if (record.body.peer !== peer) throw new InvalidMessageError(`${peer} answered with the capacity record of ${record.body.peer}`)
    own = { record, bytes: answer.record }
  }
  const sample: VerifiedRecord[] = []
  let dropped = 0
  const seen = new Set<string>([peer])
  for (const value of answer.sample) {
    try {
      const record = verifyCapacityRecordOf(value, now)
      if (seen.has(record.body.peer)) continue
      seen.add(record.body.peer)
      sample.push({ record, bytes: value })
    } catch (err) {
      if (!(err instanceof InvalidCapacityRecordError)) throw err
      dropped++
    }
  }
  return { own, sample, dropped }
}

export { CAPACITY_PROTOCOL, MAX_CAPACITY_QUERY_BYTES, MAX_CAPACITY_ANSWER_BYTES }
