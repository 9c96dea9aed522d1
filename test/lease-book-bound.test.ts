/**
 * A running lease's book stays bounded (src/scheduler/requester/lease-settlement.ts): it kept
 * every result of the lease (~1 KB each: a lease of a million tasks held about 1 GB of the
 * requester's memory); now each acknowledgement lets it drop what it settled once it holds more
 * than ACCOUNT_COMPACT_AFTER results, and what the lease pays is the same to the credit.
 * LeaseSettlement and LeaseAccount with real signatures, no network.
 */
import { describe, it, expect } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createSigner } from '../src/proofs/signing.ts'
import { rawCid, valueCid } from '../src/proofs/encoding.ts'
import { ResultChain, type ResultEntry } from '../src/proofs/commitment.ts'
import { signCheckpoint, type Lease } from '../src/proofs/lease.ts'
import { LeaseAccount } from '../src/scheduler/requester/accounting.ts'
import { LeaseSettlement } from '../src/scheduler/requester/lease-settlement.ts'
import { ACCOUNT_COMPACT_AFTER } from '../src/scheduler/constants.ts'
import { creditsFor } from '../src/scheduler/task.ts'

const PRICE = 7
const CHECKPOINT_EVERY = 256

describe('a long lease\'s book on the requester', () => {
  it('holds about ACCOUNT_COMPACT_AFTER results however many the lease returns, and pays exactly what the whole book would', async () => {
    const [requesterKey, workerKey] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const requester = createSigner(requesterKey)
    const worker = createSigner(workerKey)
    const leaseCid = valueCid({ lease: 'long' })
    const lease = { body: { worker: worker.peerId } } as unknown as Lease
    const account = new LeaseAccount(PRICE)
    const whole = new LeaseAccount(PRICE) // the same results, never compacted
    const settlement = new LeaseSettlement(lease, leaseCid.toString(), account, requester)
    const chain = new ResultChain()
    let fuel = 0n
    let chargedFuel = 0n
    let refused = 0
    let seq = 0
    let mostHeld = 0
    let lastAck: { paid: number, refused: number } | undefined
    const TASKS = 20_000
    for (let i = 0; i < TASKS; i++) {
      const entry: ResultEntry = { task: valueCid({ task: i }), out: rawCid(new TextEncoder().encode(`out ${i}`)), exit: 0, fuel: BigInt(1_000 + (i % 97) * 1_000) }
      account.add(entry)
      whole.add(entry)
      chain.add(entry)
      fuel += entry.fuel
      // Every 50th task is refused (say, outvoted), the others charged; verdicts come in order.
      const charged = i % 50 !== 0
      account.decide(entry.task.toString(), charged)
      whole.decide(entry.task.toString(), charged)
      if (charged) chargedFuel += entry.fuel
      else refused++
      if ((i + 1) % CHECKPOINT_EVERY === 0 || i === TASKS - 1) {
        const checkpoint = signCheckpoint(worker, { v: 1, lease: leaseCid, worker: worker.peerId, seq: ++seq, count: chain.count, root: chain.root, fuel, amount: creditsFor(PRICE, fuel), at: 0 })
        settlement.check(checkpoint)
        const ack = settlement.acknowledge(checkpoint).ack.body
        lastAck = { paid: ack.paid, refused: ack.refused }
        mostHeld = Math.max(mostHeld, account.held)
      }
    }
    expect(mostHeld).toBeLessThanOrEqual(ACCOUNT_COMPACT_AFTER + CHECKPOINT_EVERY)
    expect(whole.held).toBe(TASKS)
    // What was paid is what the whole book pays: the charged tasks' fuel at the price, rounded up once.
    expect(lastAck).toEqual({ paid: creditsFor(PRICE, chargedFuel), refused })
    expect(whole.paidThrough(TASKS)).toMatchObject({ paid: creditsFor(PRICE, chargedFuel), refused })
    expect(account.paidThrough(TASKS)).toMatchObject({ paid: creditsFor(PRICE, chargedFuel), refused })
    expect(account.pendingThrough(TASKS)).toBe(0)
  })

  it('results still waiting for a verdict are kept through compaction and charged when it comes', async () => {
    const [requesterKey, workerKey] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const requester = createSigner(requesterKey)
    const worker = createSigner(workerKey)
    const leaseCid = valueCid({ lease: 'slow verdict' })
    const account = new LeaseAccount(PRICE)
    const settlement = new LeaseSettlement({ body: { worker: worker.peerId } } as unknown as Lease, leaseCid.toString(), account, requester)
    const chain = new ResultChain()
    let fuel = 0n
    let seq = 0
    const late = valueCid({ task: 'late' })
    const N = 3 * ACCOUNT_COMPACT_AFTER
    for (let i = 0; i < N; i++) {
      const task = i === 10 ? late : valueCid({ task: i })
      const entry: ResultEntry = { task, out: rawCid(new Uint8Array([i & 255])), exit: 0, fuel: 1_000_000n }
      account.add(entry)
      chain.add(entry)
      fuel += entry.fuel
      if (i !== 10) account.decide(task.toString(), true)
      if ((i + 1) % CHECKPOINT_EVERY === 0) {
        const checkpoint = signCheckpoint(worker, { v: 1, lease: leaseCid, worker: worker.peerId, seq: ++seq, count: chain.count, root: chain.root, fuel, amount: creditsFor(PRICE, fuel), at: 0 })
        settlement.check(checkpoint)
        settlement.acknowledge(checkpoint)
      }
    }
    // Everything after the undecided result is held (the decided head before it could go).
    expect(account.held).toBe(N - 10)
    expect(account.pendingThrough(N)).toBe(1)
    account.decide(late.toString(), true)
    expect(account.pendingThrough(N)).toBe(0)
    expect(account.paidThrough(N).paid).toBe(creditsFor(PRICE, fuel))
  })
})
