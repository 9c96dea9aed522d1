/**
 * Transactions: schemas, signing, hashing, and the checks that need no chain state.
 *
 * A transaction is a DAG-CBOR map `{ body, sig }` (coinbase: `{ body }`, unsigned: the block's
 * proof of work is what authorises it). Signed bytes = utf8("depin/" + domain + "\n") || dagCbor(body),
 * with the domains below, and every body names its network, so a transaction signed for one
 * network or one type cannot be replayed as another.
 *
 * Transaction hash = SHA-256 of the transaction's canonical DAG-CBOR encoding (re-encoded after
 * decoding, so a non-canonical encoding of the same value has the same hash).
 */
import { z } from 'zod'
import { CID } from 'multiformats/cid'
import { DAG_CBOR_CODE, cidOf, decode, encode, sha256 } from '../proofs/encoding.ts'
import { parseWith, peerIdSchema, signatureSchema, uint } from '../proofs/schema.ts'
import { signBody, verifyBytes, type Signer } from '../proofs/signing.ts'
import { AGREEMENT_DOMAIN, RESULT_DOMAIN, agreementSchema, resultSchema, type Agreement, type SignedResult } from '../proofs/agreement.ts'
import { InvalidMessageError, MessageTooLargeError } from '../errors.ts'
import { LEDGER_VERSION, MAX_NETWORK_ID_LENGTH, MAX_TX_BYTES } from './constants.ts'
import {
  AmountOverMaxCostError, InvalidTransactionError, MalformedError, OversizeError, SettleMismatchError,
  TxSignatureError, WrongNetworkError
} from './errors.ts'
import { toHex } from './hex.ts'

export const TRANSFER_DOMAIN = 'ledger/transfer/1'
export const SETTLE_DOMAIN = 'ledger/settle/1'

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

export const settleBodySchema = z.object({
  v: z.literal(LEDGER_VERSION),
  type: z.literal('settle'),
  network: networkIdSchema,
  agreement: agreementSchema,
  result: resultSchema,
  amount
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

export const signedTxSchema = z.object({
  body: z.discriminatedUnion('type', [transferBodySchema, settleBodySchema]),
  sig: signatureSchema
}).strict()
export const coinbaseTxSchema = z.object({ body: coinbaseBodySchema }).strict()

export type TransferTx = { body: TransferBody, sig: Uint8Array }
export type SettleTx = { body: SettleBody, sig: Uint8Array }
export type CoinbaseTx = { body: CoinbaseBody }
export type SignedTx = TransferTx | SettleTx
export type Transaction = SignedTx | CoinbaseTx

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
  amount: number
  /** Settles: the agreement id. */
  agreementId?: CID
}

/** Parses a decoded value as a transaction (schema only). */
export function parseTransaction (value: unknown): Transaction {
  const type = (value as { body?: { type?: unknown } } | null)?.body?.type
  if (type === 'coinbase') return parseWith(coinbaseTxSchema, value, 'coinbase') as CoinbaseTx
  return parseWith(signedTxSchema, value, 'transaction') as SignedTx
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
        payer: body.agreement.body.requester,
        payee: body.agreement.body.worker,
        amount: body.amount,
        agreementId: body.result.body.agreementId
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

const AGREEMENT_PREFIX = new TextEncoder().encode(`depin/${AGREEMENT_DOMAIN}\n`)
const TRANSFER_PREFIX = new TextEncoder().encode(`depin/${TRANSFER_DOMAIN}\n`)
const SETTLE_PREFIX = new TextEncoder().encode(`depin/${SETTLE_DOMAIN}\n`)
const RESULT_PREFIX = new TextEncoder().encode(`depin/${RESULT_DOMAIN}\n`)

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
 * Every check on a signed transaction that needs no chain state: network, shape rules and all
 * signatures (a settle carries four: the outer one by the requester, both agreement signatures
 * and the worker's result signature). Cheap checks before signatures. A transaction found valid
 * is remembered in `cache` by hash and not verified again.
 */
export function verifyTransaction (info: TxInfo, network: string, cache?: VerifiedTxCache): void {
  const tx = info.tx
  const body = tx.body
  // [REJECT] other network: a replay from another chain
  if (body.network !== network) throw new WrongNetworkError(`transaction is for network ${body.network}, not ${network}`)
  if (body.type === 'coinbase') throw new InvalidTransactionError('a coinbase is only valid as the first transaction of a block')
  if (cache?.has(info.hashHex) === true) return
  const sig = (tx as SignedTx).sig
  if (body.type === 'transfer') {
    // [REJECT] pointless self-transfer
    if (body.from === body.to) throw new InvalidTransactionError('transfer to oneself')
    // [REJECT] signature
    if (!verifyBytes(body.from, prefixed(TRANSFER_PREFIX, bodyBytes(info)), sig)) throw new TxSignatureError(`transfer signature does not verify for ${body.from}`)
  } else {
    const agreement = body.agreement
    const result = body.result
    const requester = agreement.body.requester
    const worker = agreement.body.worker
    // [REJECT] composition: cheap checks first
    if (requester === worker) throw new SettleMismatchError('requester and worker are the same peer')
    if (body.amount > agreement.body.maxCost) throw new AmountOverMaxCostError(`settle pays ${body.amount}, over the agreement's maxCost ${agreement.body.maxCost}`)
    if (result.body.worker !== worker) throw new SettleMismatchError(`result is signed by ${result.body.worker}, not by the agreement's worker ${worker}`)
    if (!result.body.jobId.equals(agreement.body.jobId)) throw new SettleMismatchError('result is for another job')
    const agreementBytes = encode(agreement.body)
    const id = cidOf(agreementBytes, DAG_CBOR_CODE)
    if (!id.equals(result.body.agreementId)) throw new SettleMismatchError('result is for another agreement')
    // [REJECT] four signatures
    if (!verifyBytes(requester, prefixed(SETTLE_PREFIX, bodyBytes(info)), sig)) throw new TxSignatureError(`settle signature does not verify for requester ${requester}`)
    const signedAgreement = prefixed(AGREEMENT_PREFIX, agreementBytes)
    if (!verifyBytes(requester, signedAgreement, agreement.requesterSig)) throw new TxSignatureError('agreement signature of the requester does not verify')
    if (!verifyBytes(worker, signedAgreement, agreement.workerSig)) throw new TxSignatureError('agreement signature of the worker does not verify')
    if (!verifyBytes(worker, prefixed(RESULT_PREFIX, encode(result.body)), result.sig)) throw new TxSignatureError('result signature of the worker does not verify')
  }
  cache?.add(info.hashHex)
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

/** Builds and signs a settle (the signer must be the agreement's requester). */
export function createSettle (signer: Signer, fields: { network: string, agreement: Agreement, result: SignedResult, amount: number }): SettleTx {
  const body: SettleBody = {
    v: LEDGER_VERSION,
    type: 'settle',
    network: fields.network,
    agreement: fields.agreement,
    result: fields.result,
    amount: fields.amount
  }
  return { body, sig: signBody(signer, SETTLE_DOMAIN, body) }
}

/** Builds a coinbase. */
export function createCoinbase (fields: { network: string, height: number, miner: string, amount: number }): CoinbaseTx {
  return { body: { v: LEDGER_VERSION, type: 'coinbase', network: fields.network, height: fields.height, miner: fields.miner, amount: fields.amount } }
}

export { CID }
