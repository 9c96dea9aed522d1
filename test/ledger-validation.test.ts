import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import type { Signer } from '../src/proofs/signing.ts'
import { leaseId } from '../src/proofs/lease.ts'
import { encode } from '../src/proofs/encoding.ts'
import { targetToBytes } from '../src/proofs/pow.ts'
import {
  BadCoinbaseError, BadNonceError, BadTargetError, BadTimestampError,
  BodyMismatchError, DuplicateError, FutureBlockError, InvalidPowError, OverdraftError,
  TooManyTransactionsError, TxRootMismatchError, TxSignatureError, UnknownParentError, WrongNetworkError,
  MalformedError, actionOf, MAX_TXS_PER_BLOCK, type GenesisConfig, type Ledger
} from '../src/ledger/index.ts'
import { createTransfer, txInfo, type Transaction } from '../src/ledger/tx.ts'
import { encodeBlock } from '../src/ledger/block.ts'
import {
  EASY_TARGET, buildBlock, blockHashHex, genesisInfo, infoOf, makeSigners, makeWork, startLedger, testGenesis, type ParentInfo
} from './fixtures/ledger/helpers.ts'

let alice: Signer, bob: Signer, carol: Signer, miner: Signer
let genesis: GenesisConfig
let ledger: Ledger
let g: ParentInfo

beforeEach(async () => {
  [alice, bob, carol, miner] = await makeSigners(4)
  genesis = testGenesis([alice.peerId, bob.peerId])
  ledger = await startLedger({ signer: miner, genesis })
  g = genesisInfo(ledger, genesis)
})

afterEach(async () => {
  await ledger.stop()
})

const network = 'test-ledger'

function transfer (from: Signer, to: Signer, amount: number, nonce: number): Transaction {
  return createTransfer(from, { network, to: to.peerId, amount, nonce })
}

function block (txs: Transaction[], parent: ParentInfo = g, extra: Partial<Parameters<typeof buildBlock>[0]> = {}) {
  return buildBlock({ genesis, parent, miner: miner.peerId, txs, ...extra })
}

function catchSync (fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

async function expectRejected (p: Promise<unknown>, cls: new (...args: any[]) => Error): Promise<Error> {
  const err = await p.then(() => { throw new Error('expected a rejection') }, (e: Error) => e)
  expect(err).toBeInstanceOf(cls)
  return err
}

describe('valid blocks', () => {
  it('applies transfers and settles, mints the reward and indexes receipts', async () => {
    const work = makeWork(alice, bob, { maxCredits: 100 })
    const settle = work.settle(network, 40)
    const b1 = block([transfer(alice, carol, 100, 0), settle])
    const res = await ledger.addBlock(encodeBlock(b1), 'peer')
    expect(res).toMatchObject({ action: 'accept', status: 'connected', height: 1 })
    expect(await ledger.balance(alice.peerId)).toBe(1000 - 100 - 40)
    expect(await ledger.balance(bob.peerId)).toBe(1040)
    expect(await ledger.balance(carol.peerId)).toBe(100)
    expect(await ledger.balance(miner.peerId)).toBe(50)
    expect(await ledger.nonce(alice.peerId)).toBe(1)
    // A settle takes no account nonce (the cumulative amount makes a replay pay nothing).
    expect(await ledger.nonce(bob.peerId)).toBe(0)
    const id = leaseId(work.lease.body)
    expect(await ledger.settledAmount(id)).toBe(40)
    expect(await ledger.settledAmount(id.toString())).toBe(40)
    expect(await ledger.settledAmount(leaseId(makeWork(alice, bob).lease.body))).toBe(0)
    const byWorker = await ledger.receipts({ worker: bob.peerId })
    expect(byWorker).toEqual([{
      leaseId: id.toString(),
      requester: alice.peerId,
      worker: bob.peerId,
      paid: 40,
      seq: 1,
      tasks: 1,
      // the checkpoint's fuel (40 credits at 1 per gigafuel), in decimal
      fuel: '40000000000',
      height: 1,
      blockHash: blockHashHex(b1),
      txHash: txInfo(settle).hashHex
    }])
    expect(await ledger.receipts({ requester: alice.peerId })).toHaveLength(1)
    expect(await ledger.receipts({ requester: bob.peerId })).toHaveLength(0)
    expect(await ledger.receipts({ worker: bob.peerId, requester: carol.peerId })).toHaveLength(0)
    expect((await ledger.receipts()).map((r) => r.leaseId)).toEqual([id.toString()])
    const view = await ledger.block(1)
    expect(view?.transactions.map((t) => t.type)).toEqual(['coinbase', 'transfer', 'settle'])
    expect(view?.transactions[2]).toEqual({
      hash: txInfo(settle).hashHex, type: 'settle', from: alice.peerId, to: bob.peerId, amount: 40, leaseId: id.toString(), tasks: 1, fuel: '40000000000', moved: 40
    })
    expect(ledger.tip()).toMatchObject({ height: 1, hash: blockHashHex(b1), txCount: 3 })
  })

  it('serves as the gossip validators: precheck on arrival, then accept, ignore a duplicate, reject garbage', async () => {
    const { blocks, transactions } = ledger.topicHandlers()
    expect(blocks.topic).toBe('/depin/ledger/test-ledger/blocks/1')
    const check = <P>(handler: { precheck?: (d: Uint8Array, a: string | undefined, f: string) => P }, data: Uint8Array): P => (handler.precheck as (d: Uint8Array, a: string | undefined, f: string) => P)(data, 'peer', 'peer')
    const b1 = encodeBlock(block([]))
    expect(await blocks.validate(b1, 'peer', check(blocks, b1))).toMatchObject({ action: 'accept', height: 1 })
    expect(actionOf(await Promise.resolve(blocks.validate(b1, 'peer', check(blocks, b1))).catch((e) => e))).toBe('ignore')
    // Garbage and a header without valid work never get past the precheck.
    expect(actionOf(catchSync(() => check(blocks, Uint8Array.of(0xff))))).toBe('reject')
    expect(catchSync(() => check(blocks, encodeBlock(block([], g, { badPow: true }))))).toBeInstanceOf(InvalidPowError)
    const tx = encode(transfer(alice, bob, 1, 0))
    expect(await transactions.validate(tx, 'peer', check(transactions, tx))).toMatchObject({ type: 'transfer', amount: 1 })
    expect(actionOf(await Promise.resolve(transactions.validate(tx, 'peer', check(transactions, tx))).catch((e) => e))).toBe('ignore')
    expect(actionOf(catchSync(() => check(transactions, Uint8Array.of(1, 2, 3))))).toBe('reject')
    expect((await ledger.block('1'))?.height).toBe(1)
    expect(await ledger.block('zz')).toBeUndefined()
  })

  it('ignores a duplicate block', async () => {
    const b1 = block([])
    await ledger.addBlock(b1)
    const err = await expectRejected(ledger.addBlock(b1), DuplicateError)
    expect(actionOf(err)).toBe('ignore')
  })
})

describe('invalid blocks, each its own case', () => {
  it('rejects a block whose hash is above its target (bad PoW)', async () => {
    const err = await expectRejected(ledger.addBlock(block([], g, { badPow: true })), InvalidPowError)
    expect(actionOf(err)).toBe('reject')
    expect(ledger.tip().height).toBe(0)
  })

  it('rejects a transfer with a bad signature', async () => {
    const t = transfer(alice, bob, 10, 0) as { body: any, sig: Uint8Array }
    const forged = { body: { ...t.body, amount: 11 }, sig: t.sig }
    const err = await expectRejected(ledger.addBlock(block([forged as Transaction])), TxSignatureError)
    expect(actionOf(err)).toBe('reject')
    expect(await ledger.balance(alice.peerId)).toBe(1000)
  })

  it('rejects a transfer signed by someone other than the sender', async () => {
    const t = createTransfer(carol, { network, to: bob.peerId, amount: 10, nonce: 0 }) as { body: any, sig: Uint8Array }
    const forged = { body: { ...t.body, from: alice.peerId }, sig: t.sig }
    await expectRejected(ledger.addBlock(block([forged as Transaction])), TxSignatureError)
  })

  it('rejects an overdraft', async () => {
    const err = await expectRejected(ledger.addBlock(block([transfer(alice, bob, 1001, 0)])), OverdraftError)
    expect(actionOf(err)).toBe('reject')
  })

  it('rejects an overdraft spread over two transfers', async () => {
    await expectRejected(ledger.addBlock(block([transfer(alice, bob, 600, 0), transfer(alice, bob, 600, 1)])), OverdraftError)
    expect(await ledger.balance(alice.peerId)).toBe(1000)
  })

  it('rejects a block whose txRoot does not match its transactions', async () => {
    const other = block([transfer(alice, bob, 1, 0)])
    const err = await expectRejected(ledger.addBlock(block([transfer(alice, bob, 2, 0)], g, { txRoot: other.header.txRoot })), TxRootMismatchError)
    expect(actionOf(err)).toBe('reject')
  })

  it('ignores a block whose timestamp is too far in the future', async () => {
    const err = await expectRejected(ledger.addBlock(block([], g, { timestamp: Date.now() + 60_000 })), FutureBlockError)
    expect(actionOf(err)).toBe('ignore')
    expect(ledger.tip().height).toBe(0)
  })

  it('accepts a block slightly ahead of the clock (within 15 s)', async () => {
    await ledger.addBlock(block([], g, { timestamp: Date.now() + 5_000 }))
    expect(ledger.tip().height).toBe(1)
  })

  it('rejects a timestamp that is not after the median of its ancestors', async () => {
    const b1 = block([], g, { timestamp: 5000 })
    await ledger.addBlock(b1)
    const err = await expectRejected(ledger.addBlock(block([], infoOf(b1), { timestamp: 1000 })), BadTimestampError)
    expect(actionOf(err)).toBe('reject')
  })

  it('ignores a block with an unknown parent and names the parent', async () => {
    const b1 = block([])
    const b2 = block([], infoOf(b1))
    const err = await expectRejected(ledger.addBlock(b2), UnknownParentError)
    expect(actionOf(err)).toBe('ignore')
    expect((err as UnknownParentError).parent).toBe(blockHashHex(b1))
  })

  it('rejects a block with more transactions than the bound', async () => {
    const t = transfer(alice, bob, 1, 0)
    const txs = Array.from({ length: MAX_TXS_PER_BLOCK }, () => t)
    const err = await expectRejected(ledger.addBlock(block(txs)), TooManyTransactionsError)
    expect(actionOf(err)).toBe('reject')
  })

  it('rejects a known header that arrives with a different body', async () => {
    const b1 = block([transfer(alice, bob, 5, 0)])
    await ledger.addBlock(b1)
    const changed = { header: b1.header, txs: [b1.txs[0], transfer(alice, carol, 5, 0)] }
    const err = await expectRejected(ledger.addBlock(changed), BodyMismatchError)
    expect(actionOf(err)).toBe('reject')
    expect(await ledger.balance(carol.peerId)).toBe(0)
  })

  it('rejects a transfer replayed with an old nonce', async () => {
    const t0 = transfer(alice, bob, 5, 0)
    const b1 = block([t0])
    await ledger.addBlock(b1)
    const err = await expectRejected(ledger.addBlock(block([t0], infoOf(b1))), BadNonceError)
    expect(actionOf(err)).toBe('reject')
    expect(await ledger.balance(bob.peerId)).toBe(1005)
  })

  it('rejects a transfer with a nonce gap', async () => {
    await expectRejected(ledger.addBlock(block([transfer(alice, bob, 5, 1)])), BadNonceError)
  })

  it('rejects a block whose target is not the one for its height', async () => {
    // Harder than the rule gives: the wrong target (easier than genesis is TargetTooEasyError).
    const err = await expectRejected(ledger.addBlock(block([], g, { target: EASY_TARGET / 2n })), BadTargetError)
    expect(actionOf(err)).toBe('reject')
  })

  it('rejects a coinbase minting more than the reward', async () => {
    const cb = { body: { v: 1, type: 'coinbase', network, height: 1, miner: miner.peerId, amount: 51 } } as Transaction
    await expectRejected(ledger.addBlock(block([], g, { coinbase: cb })), BadCoinbaseError)
  })

  it('rejects a block without a coinbase', async () => {
    await expectRejected(ledger.addBlock(block([transfer(alice, bob, 1, 0)], g, { coinbase: null })), BadCoinbaseError)
  })

  it('rejects a transaction signed for another network (no cross-network replay)', async () => {
    const t = createTransfer(alice, { network: 'other-net', to: bob.peerId, amount: 5, nonce: 0 })
    await expectRejected(ledger.addBlock(block([t])), WrongNetworkError)
  })

  it('rejects bytes that are not a block', async () => {
    await expectRejected(ledger.addBlock(Uint8Array.from([1, 2, 3])), MalformedError)
    await expectRejected(ledger.addBlock(encode({ header: { v: 1 }, txs: [] })), MalformedError)
  })

  it('rejects a block header with a malformed target field', async () => {
    const b = block([])
    const bad = { header: { ...b.header, target: targetToBytes(1n).subarray(1) }, txs: b.txs }
    await expectRejected(ledger.addBlock(encode(bad)), MalformedError)
  })
})
