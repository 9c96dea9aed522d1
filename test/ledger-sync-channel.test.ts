import { describe, it, expect, afterEach } from 'vitest'
import { channelPair, type Channel, type ChannelOpener } from '../src/transport.ts'
import { InvalidMessageError } from '../src/errors.ts'
import {
  MAX_SYNC_FRAME_BYTES, SYNC_PROTOCOL, createSyncHandler, createSyncTransport, type Ledger
} from '../src/ledger/index.ts'
import { buildChain, genesisInfo, makeSigners, startLedger, testGenesis } from './fixtures/ledger/helpers.ts'

const stops: Array<() => Promise<void>> = []
afterEach(async () => { for (const s of stops.splice(0).reverse()) await s() })

/** Channels between two in-process peers, with the framing rules of the real ones. */
function opener (me: string, handlers: Map<string, (c: Channel) => Promise<void>>, errors: Error[]): ChannelOpener {
  return {
    async open (peerId, protocol, options = {}) {
      expect(protocol).toBe(SYNC_PROTOCOL)
      const handler = handlers.get(peerId)
      if (handler == null) throw new Error('unreachable')
      const [local, remote] = channelPair(me, peerId, { maxFrameBytes: options.maxFrameBytes, idleTimeoutMs: options.idleTimeoutMs })
      handler(remote).catch((e: Error) => { errors.push(e) })
      return local
    }
  }
}

describe('sync over channels', () => {
  it('syncs through createSyncTransport and createSyncHandler', async () => {
    const [a, b, miner] = await makeSigners(3)
    const genesis = testGenesis([])
    const source = await startLedger({ signer: a, genesis })
    stops.push(async () => { await source.stop() })
    for (const blk of buildChain(genesis, genesisInfo(source, genesis), miner.peerId, 40)) await source.addBlock(blk)
    const errors: Error[] = []
    const handlers = new Map([['source', createSyncHandler(source)]])
    const target: Ledger = await startLedger({ signer: b, genesis, syncTransport: createSyncTransport(opener('target', handlers, errors)) })
    stops.push(async () => { await target.stop() })
    expect((await target.syncWith('source')).status).toBe('synced')
    expect(target.tip().hash).toBe(source.tip().hash)
    expect(errors).toEqual([])
    expect(MAX_SYNC_FRAME_BYTES).toBeGreaterThan(2 * 1024 * 1024)
  })

  it('answers a malformed request with an error response and throws for the node to penalise', async () => {
    const [a] = await makeSigners(1)
    const ledger = await startLedger({ signer: a, genesis: testGenesis([]) })
    stops.push(async () => { await ledger.stop() })
    const [client, server] = channelPair('client', 'server')
    const handled = createSyncHandler(ledger)(server)
    await client.send({ t: 'headers', from: 0, count: 1_000_000 })
    expect(await client.receive()).toMatchObject({ t: 'error', code: 'ERR_INVALID_REQUEST' })
    await expect(handled).rejects.toBeInstanceOf(InvalidMessageError)
  })
})
