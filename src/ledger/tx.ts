/**
 * Transactions: schemas, signing, hashing, and the checks that need no chain state.
 *
 * A transfer is a DAG-CBOR map `{ body, sig }` signed by its sender. A settle and a coinbase are
 * `{ body }`: a settle carries its own authority (a lease both parties signed, the worker's
 * checkpoint and the requester's acknowledgement of it), a coinbase is authorised by the block's
 * proof of work. Signed bytes = utf8("depin/" + domain + "\n") || dagCbor(body), and every body
 * names its network, so a transaction made for one network or one type cannot be replayed as another.
 *
 * Transaction hash = SHA-256 of the transaction's canonical DAG-CBOR encoding (re-encoded after
 * decoding, so a non-canonical encoding of the same value has the same hash).
 */
import { z } from 'zod'
import { CID } from 'multiformats/cid'
import { DAG_CBOR_CODE, cidOf, decode, encode, sha256 } from '../proofs/encoding.ts'
import { parseWith, peerIdSchema, signatureSchema, uint } from '../proofs/schema.ts'
import { signBody, verifyBytes, type Signer } from '../proofs/signing.ts'
import { ACK_DOMAIN, CHECKPOINT_DOMAIN, creditsFor, LEASE_DOMAIN, leaseSchema, signedAckSchema, signedCheckpointSchema, type Lease, type SignedAck, type SignedCheckpoint } from '../proofs/lease.ts'
import { sameBytes } from '../proofs/commitment.ts'
import { InvalidMessageError, MessageTooLargeError } from '../errors.ts'
import { LEDGER_VERSION, MAX_NETWORK_ID_LENGTH, MAX_TX_BYTES } from './constants.ts'
import {
  AmountOverCheckpointError, AmountOverMaxCostError, InvalidTransactionError, MalformedError, OversizeError, SettleMismatchError,
  TxSignatureError, WrongNetworkError
} from './errors.ts'
import { toHex } from './hex.ts'

export const TRANSFER_DOMAIN = 'ledger/transfer/1'

export const networkIdSchema = z.string().min(1).max(MAX_NETWORK_ID_LENGTH).regex(/^[A-Za-z0-9._-]+$/, 'network id: letters, digits, . _ -')

/** Amounts are credits: safe non-negative integers. */
const amount = uint

export const transferBodySchema = z.object({
  v: z.literal(LEDGER_VERSION),
  type: z.literal('transfer'),
  network: networkIdSchema,
  from: peerIdSchema,
  to: peerIdSchema,
  amount: amount.min(1),
  /** The sender's account nonce: its number of earlier transfers on the chain. */
  nonce: uint
}).strict()
export type TransferBody = z.infer<typeof transferBodySchema>

/**
 * A lease settle: pays the worker what the requester acknowledged, cumulatively. The chain pays
 * `ack.paid` less what earlier settles of the same lease paid, so a later checkpoint pays only the
 * difference and nothing is paid twice.
 */
export const settleBodySchema = z.object({
  v: z.literal(LEDGER_VERSION),
  type: z.literal('settle'),
  network: networkIdSchema,
  lease: leaseSchema,
  checkpoint: signedCheckpointSchema,
  ack: signedAckSchema
}).strict()
export type SettleBody = z.infer<typeof settleBodySchema>

export const coinbaseBodySchema = z.object({
  v: z.literal(LEDGER_VERSION),
  type: z.literal('coinbase'),
  network: networkIdSchema,
  /** Height of the block it is in (makes every coinbase distinct). */
  height: uint,
  miner: peerIdSchema,
  amount
}).strict()
export type CoinbaseBody = z.infer<typeof coinbaseBodySchema>

export const transferTxSchema = z.object({ body: transferBodySchema, sig: signatureSchema }).strict()
export const settleTxSchema = z.object({ body: settleBodySchema }).strict()
export const coinbaseTxSchema = z.object({ body: coinbaseBodySchema }).strict()

export type TransferTx = { body: TransferBody, sig: Uint8Array }
export type SettleTx = { body: SettleBody }
export type CoinbaseTx = { body: CoinbaseBody }
/** What may enter the mempool. */
export type PoolTx = TransferTx | SettleTx
export type Transaction = PoolTx | CoinbaseTx

/** A parsed transaction with what validation needs computed once. */
export interface TxInfo {
  tx: Transaction
  /** SHA-256 of the canonical encoding. */
  hash: Uint8Array
  hashHex: string
  /** Canonical encoding. */
  bytes: Uint8Array
  /** Who pays: transfer `from`, settle requester; undefined for a coinbase. */
  payer?: string
  /** Who receives. */
  payee: string
  /** Credits moved; for a settle the cumulative amount acknowledged (the chain pays the part not yet paid). */
  amount: number
  /** Settles: the lease id. */
  leaseId?: CID
}

/** Parses a decoded value as a transaction (schema only). */
export function parseTransaction (value: unknown): Transaction {
  const type = (value as { body?: { type?: unknown } } | null)?.body?.type
  if (type === 'coinbase') return parseWith(coinbaseTxSchema, value, 'coinbase') as CoinbaseTx
  if (type === 'settle') return parseWith(settleTxSchema, value, 'settle') as SettleTx
  return parseWith(transferTxSchema, value, 'transaction') as TransferTx
}

/** Hash and metadata of a parsed transaction. */
export function txInfo (tx: Transaction): TxInfo {
  const bytes = encode(tx)
  const hash = sha256(bytes)
  const body = tx.body
  const base = { tx, hash, hashHex: toHex(hash), bytes }
  switch (body.type) {
    case 'transfer':
      return { ...base, payer: body.from, payee: body.to, amount: body.amount }
    case 'settle':
      return {
        ...base,
        payer: body.lease.body.requester,
        payee: body.lease.body.worker,
        amount: body.ack.body.paid,
        leaseId: body.checkpoint.body.lease
      }
    case 'coinbase':
      return { ...base, payee: body.miner, amount: body.amount }
  }
}

/**
 * Decodes a transaction from bytes that came from a peer: size first, then DAG-CBOR, then schema.
 * [REJECT] on every failure.
 */
export function decodeTransaction (bytes: Uint8Array): TxInfo {
  if (bytes.byteLength > MAX_TX_BYTES) {
    throw new OversizeError(`transaction is ${bytes.byteLength} bytes, over the limit of ${MAX_TX_BYTES}`, MAX_TX_BYTES)
  }
  let tx: Transaction
  try {
    tx = parseTransaction(decode(bytes, MAX_TX_BYTES, 'transaction'))
  } catch (err) {
    if (err instanceof InvalidMessageError || err instanceof MessageTooLargeError) throw new MalformedError(err.message, { cause: err })
    throw err
  }
  return txInfo(tx)
}

/** Hashes of transactions whose signatures verified, so that re-validating them (mempool → block) is cheap. */
export class VerifiedTxCache {
  private readonly max: number
  private readonly seen = new Set<string>()
  constructor (max: number) { this.max = max }
  has (hashHex: string): boolean { return this.seen.has(hashHex) }
  add (hashHex: string): void {
    if (this.seen.has(hashHex)) return
    if (this.seen.size >= this.max) this.seen.delete(this.seen.values().next().value as string)
    this.seen.add(hashHex)
  }
}

const TRANSFER_PREFIX = new TextEncoder().encode(`depin/${TRANSFER_DOMAIN}\n`)
const LEASE_PREFIX = new TextEncoder().encode(`depin/${LEASE_DOMAIN}\n`)
const CHECKPOINT_PREFIX = new TextEncoder().encode(`depin/${CHECKPOINT_DOMAIN}\n`)
const ACK_PREFIX = new TextEncoder().encode(`depin/${ACK_DOMAIN}\n`)

/**
 * The canonical encoding of a signed transaction is `{ sig, body }` in DAG-CBOR key order ("sig"
 * is shorter than "body"): a2 63 "sig" 58 40 <64 bytes> 64 "body" <body>. So the body's encoding,
 * which is what the outer signature covers, is the tail of the transaction's own encoding and
 * need not be encoded again.
 */
const SIGNED_TX_HEAD = Uint8Array.from([0xa2, 0x63, 0x73, 0x69, 0x67, 0x58, 0x40])
const BODY_KEY = Uint8Array.from([0x64, 0x62, 0x6f, 0x64, 0x79])
const BODY_OFFSET = SIGNED_TX_HEAD.length + 64 + BODY_KEY.length

function bodyBytes (info: TxInfo): Uint8Array {
  const b = info.bytes
  let ok = b.byteLength > BODY_OFFSET
  for (let i = 0; ok && i < SIGNED_TX_HEAD.length; i++) ok = b[i] === SIGNED_TX_HEAD[i]
  for (let i = 0; ok && i < BODY_KEY.length; i++) ok = b[SIGNED_TX_HEAD.length + 64 + i] === BODY_KEY[i]
  return ok ? b.subarray(BODY_OFFSET) : encode(info.tx.body)
}

function prefixed (prefix: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + payload.length)
  out.set(prefix, 0)
  out.set(payload, prefix.length)
  return out
}

/**
 * Every check on a transaction that needs no chain state: network, shape rules and all
 * signatures (a settle carries four, however many tasks its lease ran: both signatures on the
 * lease, the worker's on the checkpoint, the requester's on the acknowledgement). Cheap checks
 * before signatures. A transaction found valid is remembered in `cache` by hash and not verified again.
 */
export function verifyTransaction (info: TxInfo, network: string, cache?: VerifiedTxCache): void {
  const tx = info.tx
  const body = tx.body
  // [REJECT] other network: a replay from another chain
  if (body.network !== network) throw new WrongNetworkError(`transaction is for network ${body.network}, not ${network}`)
  if (body.type === 'coinbase') throw new InvalidTransactionError('a coinbase is only valid as the first transaction of a block')
  if (cache?.has(info.hashHex) === true) return
  if (body.type === 'transfer') {
    // [REJECT] pointless self-transfer
    if (body.from === body.to) throw new InvalidTransactionError('transfer to oneself')
    // [REJECT] signature
    if (!verifyBytes(body.from, prefixed(TRANSFER_PREFIX, bodyBytes(info)), (tx as TransferTx).sig)) throw new TxSignatureError(`transfer signature does not verify for ${body.from}`)
  } else {
    verifySettle(body)
  }
  cache?.add(info.hashHex)
}

function verifySettle (body: SettleBody): void {
  const { lease, checkpoint, ack } = body
  const terms = lease.body
  const cp = checkpoint.body
  const a = ack.body
  // [REJECT] composition: cheap checks first
  const leaseBytes = encode(terms)
  const id = cidOf(leaseBytes, DAG_CBOR_CODE)
  if (!cp.lease.equals(id)) throw new SettleMismatchError('the checkpoint is for another lease')
  if (cp.worker !== terms.worker) throw new SettleMismatchError(`the checkpoint is signed for ${cp.worker}, not the lease's worker ${terms.worker}`)
  if (!a.lease.equals(id) || a.requester !== terms.requester) throw new SettleMismatchError('the acknowledgement is for another lease')
  if (a.seq !== cp.seq || a.count !== cp.count || !sameBytes(a.root, cp.root)) throw new SettleMismatchError('the acknowledgement is of another checkpoint')
  if (a.paid === 0) throw new InvalidTransactionError('a settle must pay something')
  if (cp.amount !== creditsFor(terms.price, cp.fuel)) throw new SettleMismatchError(`the checkpoint claims ${cp.amount} credits for ${cp.fuel} fuel, which at the lease's price of ${terms.price} per gigafuel is ${creditsFor(terms.price, cp.fuel)}`)
  if (a.paid > cp.amount) throw new AmountOverCheckpointError(`the acknowledgement pays ${a.paid}, over the ${cp.amount} the checkpoint claims`)
  if (a.paid > terms.maxCredits) throw new AmountOverMaxCostError(`the acknowledgement pays ${a.paid}, over the lease's cap of ${terms.maxCredits}`)
  if (a.refused > a.count) throw new SettleMismatchError('more tasks refused than committed')
  // [REJECT] four signatures
  const signedLease = prefixed(LEASE_PREFIX, leaseBytes)
  if (!verifyBytes(terms.requester, signedLease, lease.requesterSig)) throw new TxSignatureError('the requester\'s signature on the lease does not verify')
  if (!verifyBytes(terms.worker, signedLease, lease.workerSig)) throw new TxSignatureError('the worker\'s signature on the lease does not verify')
  if (!verifyBytes(terms.worker, prefixed(CHECKPOINT_PREFIX, encode(cp)), checkpoint.sig)) throw new TxSignatureError('the checkpoint signature does not verify')
  if (!verifyBytes(terms.requester, prefixed(ACK_PREFIX, encode(a)), ack.sig)) throw new TxSignatureError('the acknowledgement signature does not verify')
}

/** Builds and signs a transfer. */
export function createTransfer (signer: Signer, fields: { network: string, to: string, amount: number, nonce: number }): TransferTx {
  const body: TransferBody = {
    v: LEDGER_VERSION,
    type: 'transfer',
    network: fields.network,
    from: signer.peerId,
    to: fields.to,
    amount: fields.amount,
    nonce: fields.nonce
  }
  return { body, sig: signBody(signer, TRANSFER_DOMAIN, body) }
}

/** Builds a settle of a lease through an acknowledged checkpoint (anyone holding the three may). */
export function createSettle (fields: { network: string, lease: Lease, checkpoint: SignedCheckpoint, ack: SignedAck }): SettleTx {
  return { body: { v: LEDGER_VERSION, type: 'settle', network: fields.network, lease: fields.lease, checkpoint: fields.checkpoint, ack: fields.ack } }
}

/** Builds a coinbase. */
export function createCoinbase (fields: { network: string, height: number, miner: string, amount: number }): CoinbaseTx {
  return { body: { v: LEDGER_VERSION, type: 'coinbase', network: fields.network, height: fields.height, miner: fields.miner, amount: fields.amount } }
}

export { CID }
