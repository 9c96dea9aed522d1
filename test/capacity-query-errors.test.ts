/**
 * A capacity query that cannot be read is answered with an error frame, as on the other
 * request-answer protocols (docs/protocol.md, "Conventions" and "Error codes"), and costs its
 * sender score; a good query on the next stream is answered as ever. Raw streams between two real
 * nodes over TCP. (Found by an implementation written from protocol.md alone: the node reset
 * the stream without a word.)
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import type { ComputeNode } from '../src/node/compute-node.ts'
import { decode, encode } from '../src/proofs/encoding.ts'
import { CAPACITY_PROTOCOL, MAX_CAPACITY_QUERY_BYTES } from '../src/node/constants.ts'
import { varint } from './jobs-helpers.ts'

/** The first frame a raw stream brings back, or how it ended without one. */
async function firstFrame (stream: Stream): Promise<{ frame?: Record<string, unknown>, ended?: string }> {
  const lp = lpStream(stream, { maxDataLength: 1 << 17 })
  try {
    const bytes = await lp.read({ signal: AbortSignal.timeout(30_000) })
    return { frame: decode(bytes.subarray(), 1 << 17) as Record<string, unknown> }
  } catch (err) {
    return { ended: (err as Error).name }
  }
}

describe('capacity queries that cannot be read', () => {
  let net: Testnet
  let asker: ComputeNode
  let answerer: ComputeNode

  beforeAll(async () => {
    net = await createTestnet({ nodes: 2 })
    ;[asker, answerer] = net.nodes
  })

  afterAll(async () => {
    await net?.stop()
  })

  async function ask (bytes: Uint8Array): Promise<{ frame?: Record<string, unknown>, ended?: string }> {
    const stream = await asker.host.dialProtocol(peerIdFromString(answerer.peerId), CAPACITY_PROTOCOL)
    stream.send(bytes)
    const outcome = await firstFrame(stream)
    // Our side closed too (the answerer waits for that before it lets the stream go).
    await stream.close().catch(() => {})
    return outcome
  }
  const framed = (value: unknown): Uint8Array => { const body = encode(value); return Uint8Array.from([...varint(body.byteLength), ...body]) }

  it('a query outside the schema gets ERR_INVALID_MESSAGE, an oversized one ERR_MESSAGE_TOO_LARGE, each costing score; a good one is answered', async () => {
    const start = answerer.peerScore.score(asker.peerId)
    const invalid = await ask(framed({ t: 'capacity-query', runtime: 'wasi-p1', sample: 17 }))
    expect(invalid.frame).toMatchObject({ t: 'error', code: 'ERR_INVALID_MESSAGE' })
    const afterInvalid = answerer.peerScore.score(asker.peerId)
    expect(afterInvalid).toBeLessThan(start)

    // Refused on its length prefix, before its body is read.
    const oversized = await ask(Uint8Array.from([...varint(MAX_CAPACITY_QUERY_BYTES + 1), 1, 2, 3]))
    expect(oversized.frame).toMatchObject({ t: 'error', code: 'ERR_MESSAGE_TOO_LARGE' })
    expect(answerer.peerScore.score(asker.peerId)).toBeLessThan(afterInvalid)

    const good = await ask(framed({ t: 'capacity-query', runtime: 'wasi-p1', sample: 4 }))
    expect(good.frame?.t).toBe('capacity')
    expect(good.frame?.record).toBeInstanceOf(Uint8Array)
  })
})
