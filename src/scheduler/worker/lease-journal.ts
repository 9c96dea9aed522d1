/**
 * The worker's journal of the leases it serves and has not been paid for yet, on disk, so that a
 * worker killed, crashed or cut from power still knows them at its next start: the co-signed
 * lease and the best acknowledgement its requester signed (what it settles with), written as
 * each better acknowledgement arrives. An entry goes once the chain pays the lease what that
 * acknowledgement says (or the worker gives up settling it); an entry of a lease that never got
 * an acknowledgement goes when the lease ends. Key space (a sublevel of the node's store):
 *   `worker-leases`  utf8(lease id) → DAG-CBOR JournalEntry
 */
import { z } from 'zod'
import { decode, encode } from '../../proofs/encoding.ts'
import { leaseSchema, signedAckSchema, signedCheckpointSchema, type Lease, type SignedAck, type SignedCheckpoint } from '../../proofs/lease.ts'
import { parseWith, uint } from '../../proofs/schema.ts'
import type { Store } from '../../shared/store.ts'
import type { LeaseRecord } from '../job-store.ts'
import { stripUndefined } from '../strip-undefined.ts'

type Sub = ReturnType<Store['sublevel']>

export interface JournalEntry {
  lease: Lease
  startedAt: number
  /** When the entry was last written. */
  at: number
  /** The best acknowledgement received and the checkpoint it acknowledges. */
  best?: { checkpoint: SignedCheckpoint, ack: SignedAck }
  /** The lease's record once it ended here (absent: the node went down while serving it). */
  record?: LeaseRecord
}

const MAX_ENTRY_BYTES = 64 * 1024
const enc = new TextEncoder()

const recordSchema = z.object({
  leaseId: z.string().max(128),
  requester: z.string().max(128),
  startedAt: uint,
  endedAt: uint,
  tasks: uint,
  refused: uint,
  fuel: z.string().max(32).optional(),
  amount: uint,
  paid: uint,
  acknowledged: uint.optional(),
  reason: z.string().max(256)
}).strict()

const entrySchema = z.object({
  lease: leaseSchema,
  startedAt: uint,
  at: uint,
  best: z.object({ checkpoint: signedCheckpointSchema, ack: signedAckSchema }).strict().optional(),
  record: recordSchema.optional()
}).strict()

export class LeaseJournal {
  private readonly entries: Sub
  /** Writes of each lease in the order they were asked for (a later acknowledgement must land last). */
  private readonly writing = new Map<string, Promise<void>>()

  constructor (store: Store) {
    this.entries = store.sublevel('worker-leases', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Sub
  }

  /** Writes a lease's entry (after the writes of that lease asked for before). */
  async put (id: string, entry: JournalEntry): Promise<void> {
    const bytes = encode(stripUndefined(entry))
    await this.serial(id, async () => { await this.entries.put(enc.encode(id), bytes) })
  }

  /** Removes a lease's entry (after the writes asked for before). */
  async delete (id: string): Promise<void> {
    await this.serial(id, async () => { await this.entries.del(enc.encode(id)) })
  }

  /** Every entry; one that does not decode is skipped (and reported to `onBad`). */
  async * all (onBad?: (err: Error) => void): AsyncGenerator<JournalEntry> {
    for await (const value of this.entries.values()) {
      try {
        yield parseWith(entrySchema, decode(value as Uint8Array, MAX_ENTRY_BYTES, 'worker lease entry'), 'worker lease entry') as JournalEntry
      } catch (err) {
        onBad?.(err as Error)
      }
    }
  }

  private async serial (id: string, write: () => Promise<void>): Promise<void> {
    const before = this.writing.get(id) ?? Promise.resolve()
    const done = before.then(write)
    const settled = done.catch(() => {})
    this.writing.set(id, settled)
    void settled.then(() => { if (this.writing.get(id) === settled) this.writing.delete(id) })
    await done
  }
}
