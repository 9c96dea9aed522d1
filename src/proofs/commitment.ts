/**
 * The hash chain a checkpoint commits to: one entry per result a worker returned on a lease, in
 * the order it returned them.
 *
 *   root(0) = 32 zero bytes
 *   root(i) = SHA-256( root(i-1) || dagCbor(entry(i)) )
 *
 * Both sides compute it as results go by (the worker as it sends them, the requester as it
 * receives them), so a checkpoint is checked by comparing two 32-byte values; and from the
 * entries anyone can recompute the root a worker signed, so a wrong output it returned is
 * provably its own.
 */
import { z } from 'zod'
import type { CID } from 'multiformats/cid'
import { encode, sha256 } from './encoding.ts'
import { blobCidSchema, objectCidSchema, uint64 } from './schema.ts'

export const ZERO_ROOT = new Uint8Array(32)

/** What a worker commits to for one task. Keys are short: the chain is hashed per task. */
export const resultEntrySchema = z.object({
  /** The task id. */
  task: objectCidSchema,
  /** CID (raw) of the task's stdout. */
  out: blobCidSchema,
  /** Exit code; -1 when trapped, timed out or unable to run. */
  exit: z.number().int().min(-1).max(255),
  /** Fuel the run used (at most the task's limit): the lease's price applies to the sum. */
  fuel: uint64,
  /** CID of the output manifest of the task's /out directory, when it left files there. */
  files: objectCidSchema.optional()
}).strict()
export type ResultEntry = z.infer<typeof resultEntrySchema>

/** Where `root || dagCbor(entry)` is put together to be hashed (entries are ~100 bytes; longer ones get their own). */
let scratch = new Uint8Array(1024)

/** The next chain head after `entry` (hashed per result on both sides of a lease: one hash call, no Hash object). */
export function chainNext (root: Uint8Array, entry: ResultEntry): Uint8Array {
  const body = encode(entry)
  if (root.byteLength + body.byteLength > scratch.byteLength) scratch = new Uint8Array(2 * (root.byteLength + body.byteLength))
  scratch.set(root, 0)
  scratch.set(body, root.byteLength)
  return sha256(scratch.subarray(0, root.byteLength + body.byteLength))
}

/** A running hash chain and its length. */
export class ResultChain {
  root: Uint8Array = ZERO_ROOT
  count = 0

  add (entry: ResultEntry): void {
    this.root = chainNext(this.root, entry)
    this.count++
  }
}

/** Recomputes the root of a list of entries (for evidence and tests). */
export function chainRoot (entries: Iterable<ResultEntry>): Uint8Array {
  let root: Uint8Array = ZERO_ROOT
  for (const entry of entries) root = chainNext(root, entry)
  return root
}

export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

export type { CID }
