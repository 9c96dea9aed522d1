/**
 * The lease settle in blocks: cumulative payment (a later checkpoint pays only the difference,
 * nothing is paid twice), the settlement window, and every way a settle's parts can fail to
 * belong together. Each bad input is its own case, asserting the error class, its action and
 * that no balance moved.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import type { Signer } from '../src/proofs/signing.ts'
import { signBody } from '../src/proofs/signing.ts'
import { ACK_DOMAIN, CHECKPOINT_DOMAIN, leaseId, signAck, signCheckpoint, signLeaseAsRequester, signLeaseAsWorker, type Lease, type SignedAck, type SignedCheckpoint } from '../src/proofs/lease.ts'
import {
  AlreadySettledError, AmountOverCheckpointError, AmountOverMaxCostError, InvalidTransactionError, LeaseExpiredError,
  MalformedError, OverdraftError, SETTLE_WINDOW_MS, SettleMismatchError, TxSignatureError, WrongNetworkError, actionOf,
  type GenesisConfig, type Ledger
} from '../src/ledger/index.ts'
import { createSettle, createTransfer, txInfo, type Transaction } from '../src/ledger/tx.ts'
import {
  buildBlock, blockHashHex, genesisInfo, infoOf, makeAck, makeCheckpoint, makeLease, makeSigners, makeWork, startLedger,
  testGenesis, type ParentInfo
} from './fixtures/ledger/helpers.ts'

const network = 'test-ledger'
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

function block (txs: Transaction[], parent: ParentInfo = g, timestamp?: number) {
  return buildBlock({ genesis, parent, miner: miner.peerId, txs, timestamp })
}

function settle (lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck): Transaction {
  return createSettle({ network, lease, checkpoint, ack })
}

async function rejected (p: Promise<unknown>, cls: new (...args: any[]) => Error): Promise<Error> {
  const err = await p.then(() => { throw new Error('expected a rejection') }, (e: Error) => e)
  expect(err).toBeInstanceOf(cls)
  expect(actionOf(err)).toBe('reject')
  return err
}

/** A block with this one settle is rejected with `cls` and nothing moves. */
async function refusedAlone (tx: Transaction, cls: new (...args: any[]) => Error): Promise<Error> {
  const err = await rejected(ledger.addBlock(block([tx])), cls)
  expect(ledger.tip().height).toBe(0)
  expect(await ledger.balance(alice.peerId)).toBe(1000)
  expect(await ledger.balance(bob.peerId)).toBe(1000)
  expect(await ledger.receipts()).toEqual([])
  return err
}

describe('cumulative settlement', () => {
  it('a later checkpoint of the same lease pays only the difference', async () => {
    const work = makeWork(alice, bob)
    const b1 = block([work.settle(network, 40)])
    await ledger.addBlock(b1)
    const s2 = work.settle(network, 70)
    const b2 = block([s2], infoOf(b1))
    await ledger.addBlock(b2)
    expect(await ledger.balance(alice.peerId)).toBe(1000 - 70)
    expect(await ledger.balance(bob.peerId)).toBe(1000 + 70)
    const id = leaseId(work.lease.body).toString()
    expect(await ledger.settledAmount(id)).toBe(70)
    // One receipt per lease, moved to the latest settle (the index entry of the first is gone).
    const receipts = await ledger.receipts({ worker: bob.peerId })
    expect(receipts).toEqual([{
      leaseId: id, requester: alice.peerId, worker: bob.peerId, paid: 70, seq: 2, tasks: 2, fuel: '70000000000', height: 2, blockHash: blockHashHex(b2), txHash: txInfo(s2).hashHex
    }])
    expect(await ledger.receipts({ requester: alice.peerId })).toHaveLength(1)
    expect(await ledger.receipts()).toHaveLength(1)
    // The block shows the settle's cumulative amount.
    expect((await ledger.block(2))?.transactions[1]).toMatchObject({ type: 'settle', amount: 70, leaseId: id, tasks: 2, fuel: '70000000000' })
  })

  it('a lease settled twice in one block pays the larger acknowledgement once', async () => {
    const work = makeWork(alice, bob)
    const s1 = work.settle(network, 10)
    const s2 = work.settle(network, 25)
    await ledger.addBlock(block([s1, s2]))
    expect(await ledger.balance(alice.peerId)).toBe(975)
    expect(await ledger.balance(bob.peerId)).toBe(1025)
    expect(await ledger.receipts()).toMatchObject([{ paid: 25, seq: 2, tasks: 2, height: 1, txHash: txInfo(s2).hashHex }])
  })

  it('pays what the requester acknowledged, not what the checkpoint claims (refused tasks are not charged)', async () => {
    const lease = makeLease(alice, bob)
    const checkpoint = makeCheckpoint(bob, lease, { seq: 1, count: 5, amount: 50 })
    await ledger.addBlock(block([settle(lease, checkpoint, makeAck(alice, checkpoint, 30, 2))]))
    expect(await ledger.balance(bob.peerId)).toBe(1030)
    expect(await ledger.receipts()).toMatchObject([{ paid: 30, seq: 1, tasks: 5 }])
  })

  it('a second acknowledgement of the same checkpoint paying more pays the difference', async () => {
    const lease = makeLease(alice, bob)
    const checkpoint = makeCheckpoint(bob, lease, { seq: 1, count: 3, amount: 20 })
    const b1 = block([settle(lease, checkpoint, makeAck(alice, checkpoint, 10, 1))])
    await ledger.addBlock(b1)
    await ledger.addBlock(block([settle(lease, checkpoint, makeAck(alice, checkpoint, 15))], infoOf(b1)))
    expect(await ledger.balance(bob.peerId)).toBe(1015)
    expect(await ledger.receipts()).toMatchObject([{ paid: 15, seq: 1, height: 2 }])
  })

  it('the requester\'s balance must cover the difference (not the cumulative amount)', async () => {
    const work = makeWork(alice, bob, { maxCredits: 1000 })
    const b1 = block([work.settle(network, 900)])
    await ledger.addBlock(b1)
    const s2 = work.settle(network, 950)
    // alice has 100 left; after sending 60 she cannot cover the 50 the settle adds.
    const spend60 = createTransfer(alice, { network, to: carol.peerId, amount: 60, nonce: 0 })
    await rejected(ledger.addBlock(block([spend60, s2], infoOf(b1))), OverdraftError)
    expect(await ledger.balance(bob.peerId)).toBe(1900)
    // After sending 50 she can, exactly.
    const spend50 = createTransfer(alice, { network, to: carol.peerId, amount: 50, nonce: 0 })
    await ledger.addBlock(block([spend50, s2], infoOf(b1)))
    expect(await ledger.balance(alice.peerId)).toBe(0)
    expect(await ledger.balance(bob.peerId)).toBe(1950)
  })

  it('refuses a settle whose requester cannot pay', async () => {
    const work = makeWork(carol, bob)
    await rejected(ledger.addBlock(block([work.settle(network, 50)])), OverdraftError)
    expect(await ledger.balance(bob.peerId)).toBe(1000)
  })
})

describe('settles of what is already settled', () => {
  async function settledAt40 (): Promise<{ work: ReturnType<typeof makeWork>, parent: ParentInfo }> {
    const work = makeWork(alice, bob)
    const b1 = block([work.settle(network, 40)])
    await ledger.addBlock(b1)
    return { work, parent: infoOf(b1) }
  }

  async function expectStill40 (): Promise<void> {
    expect(ledger.tip().height).toBe(1)
    expect(await ledger.balance(alice.peerId)).toBe(960)
    expect(await ledger.balance(bob.peerId)).toBe(1040)
    expect(await ledger.receipts()).toMatchObject([{ paid: 40, seq: 1, height: 1 }])
  }

  it('rejects the same settle again in a later block', async () => {
    const work = makeWork(alice, bob)
    const s1 = work.settle(network, 40)
    const b1 = block([s1])
    await ledger.addBlock(b1)
    await rejected(ledger.addBlock(block([s1], infoOf(b1))), AlreadySettledError)
    await expectStill40()
  })

  it('rejects another acknowledgement of the settled checkpoint at the same amount', async () => {
    const { work, parent } = await settledAt40()
    await rejected(ledger.addBlock(block([work.settle(network, 40, { seq: 1 })], parent)), AlreadySettledError)
    await expectStill40()
  })

  it('rejects a later checkpoint paying the same amount', async () => {
    const { work, parent } = await settledAt40()
    await rejected(ledger.addBlock(block([work.settle(network, 40, { seq: 2 })], parent)), AlreadySettledError)
    await expectStill40()
  })

  it('rejects a later checkpoint paying less', async () => {
    const { work, parent } = await settledAt40()
    await rejected(ledger.addBlock(block([work.settle(network, 30, { seq: 2 })], parent)), AlreadySettledError)
    await expectStill40()
  })

  it('rejects an older checkpoint than the one settled, even paying more', async () => {
    const work = makeWork(alice, bob)
    const b1 = block([work.settle(network, 40, { seq: 3 })])
    await ledger.addBlock(b1)
    await rejected(ledger.addBlock(block([work.settle(network, 50, { seq: 2 })], infoOf(b1))), AlreadySettledError)
    expect(await ledger.balance(bob.peerId)).toBe(1040)
    expect(await ledger.receipts()).toMatchObject([{ paid: 40, seq: 3 }])
  })

  it('rejects the same settle twice in one block', async () => {
    const s1 = makeWork(alice, bob).settle(network, 10)
    const err = await rejected(ledger.addBlock(block([s1, s1])), AlreadySettledError)
    expect(err.message).toMatch(/already settled through 10/)
    expect(ledger.tip().height).toBe(0)
    expect(await ledger.balance(bob.peerId)).toBe(1000)
  })

  it('rejects a smaller settle after a larger one in the same block', async () => {
    const work = makeWork(alice, bob)
    const s1 = work.settle(network, 20)
    const s2 = work.settle(network, 15)
    await rejected(ledger.addBlock(block([s1, s2])), AlreadySettledError)
    expect(await ledger.balance(bob.peerId)).toBe(1000)
    expect(await ledger.receipts()).toEqual([])
  })
})

describe('the settlement window', () => {
  const expiresAt = 5_000
  const lastMoment = expiresAt + SETTLE_WINDOW_MS

  it('rejects a settle in a block timestamped after expiresAt + SETTLE_WINDOW_MS', async () => {
    const work = makeWork(alice, bob, { acceptedAt: 1, expiresAt })
    const err = await rejected(ledger.addBlock(block([work.settle(network, 10)], g, lastMoment + 1)), LeaseExpiredError)
    expect(err.message).toMatch(/could be settled until/)
    expect(ledger.tip().height).toBe(0)
    expect(await ledger.balance(bob.peerId)).toBe(1000)
  })

  it('accepts one at the last moment of the window, and no later checkpoint after it', async () => {
    const work = makeWork(alice, bob, { acceptedAt: 1, expiresAt })
    const b1 = block([work.settle(network, 10)], g, lastMoment)
    await ledger.addBlock(b1)
    expect(await ledger.balance(bob.peerId)).toBe(1010)
    await rejected(ledger.addBlock(block([work.settle(network, 20)], infoOf(b1), lastMoment + 1000)), LeaseExpiredError)
    expect(await ledger.balance(bob.peerId)).toBe(1010)
    expect(await ledger.settledAmount(leaseId(work.lease.body))).toBe(10)
  })
})

describe('settles whose amounts break the rules', () => {
  it('rejects paying over the lease\'s credit cap', async () => {
    const work = makeWork(alice, bob, { maxCredits: 30 })
    const err = await refusedAlone(work.settle(network, 31), AmountOverMaxCostError)
    expect(err.message).toMatch(/cap of 30/)
  })

  it('rejects a later checkpoint that takes the lease over its cap', async () => {
    const work = makeWork(alice, bob, { maxCredits: 30 })
    const b1 = block([work.settle(network, 30)])
    await ledger.addBlock(b1)
    await rejected(ledger.addBlock(block([work.settle(network, 31)], infoOf(b1))), AmountOverMaxCostError)
    expect(await ledger.balance(bob.peerId)).toBe(1030)
  })

  it('rejects paying more than the checkpoint claims', async () => {
    const work = makeWork(alice, bob)
    await refusedAlone(work.settle(network, 21, { claimed: 20 }), AmountOverCheckpointError)
  })

  it('rejects paying nothing', async () => {
    const work = makeWork(alice, bob)
    await refusedAlone(work.settle(network, 0), InvalidTransactionError)
  })

  it('rejects a checkpoint whose amount is not its fuel at the lease\'s price (claiming more, or less)', async () => {
    // 3 credits per gigafuel: 3 gigafuel is 9 credits, 4 gigafuel 12.
    const lease = makeLease(alice, bob, { price: 3 })
    const more = makeCheckpoint(bob, lease, { seq: 1, count: 2, amount: 10, fuel: 3_000_000_000n })
    const err = await refusedAlone(settle(lease, more, makeAck(alice, more, 10)), SettleMismatchError)
    expect(err.message).toMatch(/claims 10 credits for 3000000000 fuel, which at the lease's price of 3 per gigafuel is 9/)
    const less = makeCheckpoint(bob, lease, { seq: 1, count: 2, amount: 10, fuel: 4_000_000_000n })
    await refusedAlone(settle(lease, less, makeAck(alice, less, 10)), SettleMismatchError)
    // Paying less than the checkpoint claims is fine; a claim that does not add up is not, whatever is paid.
    await refusedAlone(settle(lease, more, makeAck(alice, more, 1)), SettleMismatchError)
    // A lease at price 0 is free: any fuel, 0 credits, and so nothing a settle could pay.
    const free = makeLease(alice, bob, { price: 0 })
    const claimed = makeCheckpoint(bob, free, { seq: 1, count: 1, amount: 5, fuel: 5_000_000_000n })
    await refusedAlone(settle(free, claimed, makeAck(alice, claimed, 5)), SettleMismatchError)
  })

  it('accepts a checkpoint whose amount is its fuel at the price, rounded up, fuel past 2^53 included; the receipt and the block carry the fuel', async () => {
    const lease = makeLease(alice, bob, { price: 3, maxCredits: 100 })
    // ceil(3 × 3,333,333,333 / 10^9) = ceil(9.999999999) = 10
    const checkpoint = makeCheckpoint(bob, lease, { seq: 1, count: 2, amount: 10, fuel: 3_333_333_333n })
    const b1 = block([settle(lease, checkpoint, makeAck(alice, checkpoint, 10))])
    await ledger.addBlock(b1)
    expect(await ledger.balance(bob.peerId)).toBe(1010)
    expect(await ledger.receipts()).toMatchObject([{ paid: 10, tasks: 2, fuel: '3333333333' }])
    expect((await ledger.block(1))?.transactions[1]).toMatchObject({ type: 'settle', amount: 10, fuel: '3333333333' })
    // 2^60 fuel at 1 credit per gigafuel: ceil(1,152,921,504.606…), exactly; paid in part.
    const big = makeLease(alice, bob, { price: 1, maxCredits: 10_000_000_000 })
    const cp = makeCheckpoint(bob, big, { seq: 1, count: 1, amount: 1_152_921_505, fuel: 2n ** 60n })
    await ledger.addBlock(block([settle(big, cp, makeAck(alice, cp, 500))], infoOf(b1)))
    expect(await ledger.receipt(leaseId(big.body))).toMatchObject({ paid: 500, fuel: '1152921504606846976' })
    expect(await ledger.balance(bob.peerId)).toBe(1510)
  })

  it('rejects refusing more tasks than the checkpoint commits to', async () => {
    const lease = makeLease(alice, bob)
    const checkpoint = makeCheckpoint(bob, lease, { seq: 1, count: 2, amount: 10 })
    await refusedAlone(settle(lease, checkpoint, makeAck(alice, checkpoint, 5, 3)), SettleMismatchError)
  })
})

describe('settles whose parts do not belong together', () => {
  let lease: Lease
  let checkpoint: SignedCheckpoint
  beforeEach(() => {
    lease = makeLease(alice, bob)
    checkpoint = makeCheckpoint(bob, lease, { seq: 1, count: 4, amount: 20 })
  })

  it('rejects a checkpoint signed by another key than the lease\'s worker', async () => {
    const forged = { body: checkpoint.body, sig: signBody(carol, CHECKPOINT_DOMAIN, checkpoint.body) }
    const err = await refusedAlone(settle(lease, forged, makeAck(alice, forged, 10)), TxSignatureError)
    expect(err.message).toMatch(/checkpoint signature/)
  })

  it('rejects a checkpoint that names another worker (and is signed by it)', async () => {
    const other = signCheckpoint(carol, { ...checkpoint.body, worker: carol.peerId })
    await refusedAlone(settle(lease, other, makeAck(alice, other, 10)), SettleMismatchError)
  })

  it('rejects a checkpoint whose amount was raised after the worker signed it', async () => {
    // Fuel raised with it (90 credits' worth at price 1), so only the signature is wrong.
    const raised = { body: { ...checkpoint.body, fuel: 90_000_000_000n, amount: 90 }, sig: checkpoint.sig }
    await refusedAlone(settle(lease, raised, makeAck(alice, raised, 90)), TxSignatureError)
  })

  it('rejects a checkpoint for another lease', async () => {
    const otherLease = makeLease(alice, bob)
    const other = makeCheckpoint(bob, otherLease, { seq: 1, count: 4, amount: 20 })
    const err = await refusedAlone(settle(lease, other, makeAck(alice, other, 10)), SettleMismatchError)
    expect(err.message).toMatch(/checkpoint is for another lease/)
  })

  it('rejects an acknowledgement for another lease', async () => {
    const otherId = leaseId(makeLease(alice, bob).body)
    const ack = signAck(alice, { ...makeAck(alice, checkpoint, 10).body, lease: otherId })
    const err = await refusedAlone(settle(lease, checkpoint, ack), SettleMismatchError)
    expect(err.message).toMatch(/acknowledgement is for another lease/)
  })

  const otherCheckpoint: Array<[string, (b: SignedAck['body']) => SignedAck['body']]> = [
    ['seq', (b) => ({ ...b, seq: b.seq + 1 })],
    ['count', (b) => ({ ...b, count: b.count + 1 })],
    ['root', (b) => ({ ...b, root: new Uint8Array(32).fill(7) })]
  ]
  for (const [field, change] of otherCheckpoint) {
    it(`rejects an acknowledgement of another checkpoint (its ${field} differs)`, async () => {
      const ack = signAck(alice, change(makeAck(alice, checkpoint, 10).body))
      const err = await refusedAlone(settle(lease, checkpoint, ack), SettleMismatchError)
      expect(err.message).toMatch(/acknowledgement is of another checkpoint/)
    })
  }

  it('rejects an acknowledgement signed by another key than the lease\'s requester', async () => {
    const body = makeAck(alice, checkpoint, 10).body
    const err = await refusedAlone(settle(lease, checkpoint, { body, sig: signBody(carol, ACK_DOMAIN, body) }), TxSignatureError)
    expect(err.message).toMatch(/acknowledgement signature/)
  })

  it('rejects an acknowledgement signed by the worker (a worker cannot pay itself)', async () => {
    const body = makeAck(alice, checkpoint, 20).body
    await refusedAlone(settle(lease, checkpoint, { body, sig: signBody(bob, ACK_DOMAIN, body) }), TxSignatureError)
  })

  it('rejects an acknowledgement that names another requester (and is signed by it)', async () => {
    const ack = signAck(carol, { ...makeAck(alice, checkpoint, 10).body, requester: carol.peerId })
    await refusedAlone(settle(lease, checkpoint, ack), SettleMismatchError)
  })

  it('rejects an acknowledgement whose payment was raised after the requester signed it', async () => {
    const ack = makeAck(alice, checkpoint, 10)
    await refusedAlone(settle(lease, checkpoint, { body: { ...ack.body, paid: 20 }, sig: ack.sig }), TxSignatureError)
  })
})

describe('forged leases', () => {
  /** A settle of `lease` through a checkpoint and acknowledgement made for it. */
  function settleOf (lease: Lease, paid = 10): Transaction {
    const checkpoint = makeCheckpoint(bob, lease, { seq: 1, count: 1, amount: paid })
    return settle(lease, checkpoint, makeAck(alice, checkpoint, paid))
  }

  it('rejects a lease without the worker\'s signature (the requester\'s in its place)', async () => {
    const lease = makeLease(alice, bob)
    const err = await refusedAlone(settleOf({ ...lease, workerSig: lease.requesterSig }), TxSignatureError)
    expect(err.message).toMatch(/worker's signature on the lease/)
  })

  it('rejects a lease whose requester signature is another peer\'s', async () => {
    const lease = makeLease(alice, bob)
    const err = await refusedAlone(settleOf({ ...lease, requesterSig: signLeaseAsRequester(carol, { ...lease.body, requester: carol.peerId }) }), TxSignatureError)
    expect(err.message).toMatch(/requester's signature on the lease/)
  })

  it('rejects a lease whose cap was raised after both signed it', async () => {
    const lease = makeLease(alice, bob, { maxCredits: 10 })
    const raised = { ...lease, body: { ...lease.body, maxCredits: 500 } }
    await refusedAlone(settleOf(raised, 400), TxSignatureError)
  })

  it('rejects a lease signed by the worker alone (as both parties)', async () => {
    const lease = makeLease(alice, bob)
    const forged = { ...lease, requesterSig: signBody(bob, 'lease/1', lease.body) }
    await refusedAlone(settleOf(forged), TxSignatureError)
  })

  it('rejects a lease between a peer and itself (schema)', async () => {
    const body = { ...makeLease(alice, bob).body, worker: alice.peerId }
    const lease = { body, requesterSig: signLeaseAsRequester(alice, body), workerSig: signLeaseAsWorker(alice, body) }
    const checkpoint = makeCheckpoint(alice, lease, { seq: 1, count: 1, amount: 10 })
    await refusedAlone(settle(lease, checkpoint, makeAck(alice, checkpoint, 10)), MalformedError)
  })

  it('rejects a lease that expires before it was accepted (schema)', async () => {
    await refusedAlone(settleOf(makeLease(alice, bob, { acceptedAt: 10, expiresAt: 10 })), MalformedError)
  })

  it('rejects a settle made for another network', async () => {
    const work = makeWork(alice, bob)
    await refusedAlone(work.settle('other-net', 10), WrongNetworkError)
  })
})
