/**
 * Blocks: header schema, hashing, txRoot, encoding and decoding.
 *
 * Block = DAG-CBOR map `{ header, txs }`. Block hash = SHA-256 of the header's canonical DAG-CBOR
 * encoding (the PoW hash). txRoot = SHA-256 of the DAG-CBOR encoding of the list of the
 * transactions' hashes (each 32 bytes), in block order.
 */
import { z } from 'zod'
import { decode, encode, sha256 } from '../proofs/encoding.ts'
import { bytes, parseWith, peerIdSchema, uint } from '../proofs/schema.ts'
import { NONCE_BYTES, TARGET_BYTES, powHash } from '../proofs/pow.ts'
import { InvalidMessageError, MessageTooLargeError } from '../errors.ts'
import { LEDGER_VERSION, MAX_BLOCK_BYTES, MAX_TXS_PER_BLOCK, MAX_TX_BYTES } from './constants.ts'
import { MalformedError, OversizeError, TooManyTransactionsError, TxRootMismatchError } from './errors.ts'
import { bytesEqual, toHex } from './hex.ts'
import { networkIdSchema, parseTransaction, txInfo, type Transaction, type TxInfo } from './tx.ts'

export const HASH_BYTES = 32

export const headerSchema = z.object({
  v: z.literal(LEDGER_VERSION),
  network: networkIdSchema,
  /** Hash of the parent header; 32 zero bytes for the genesis block. */
  parent: bytes(HASH_BYTES),
  height: uint,
  /** Milliseconds since the epoch. */
  timestamp: uint,
  /** 32-byte big-endian target; the header hash must be <= it. */
  target: bytes(TARGET_BYTES),
  /** 8 bytes the miner varies. */
  nonce: bytes(NONCE_BYTES),
  /** The miner's peer id (receives the coinbase); empty only in the genesis block. */
  miner: z.union([peerIdSchema, z.literal('')]),
  txRoot: bytes(HASH_BYTES)
}).strict()
export type BlockHeader = z.infer<typeof headerSchema>

export interface Block {
  header: BlockHeader
  txs: Transaction[]
}

const blockShape = z.object({
  header: z.unknown(),
  txs: z.array(z.unknown())
}).strict()

/** Block hash (= PoW hash) of a header. */
export function headerHash (header: BlockHeader): Uint8Array {
  return powHash(encode(header))
}

/** txRoot of a list of transaction hashes. */
export function txRootOf (txHashes: Uint8Array[]): Uint8Array {
  return sha256(encode(txHashes))
}

/** A block whose header has been decoded and hashed; transactions are parsed on demand (cheap checks first). */
export interface DecodedBlock {
  header: BlockHeader
  hash: Uint8Array
  hashHex: string
  /** The encoded block as received (bounded by MAX_BLOCK_BYTES). */
  bytes: Uint8Array
  /** The decoded but not yet schema-checked transactions. */
  rawTxs: unknown[]
  /** Filled by `parseBlockTransactions`. */
  txs?: TxInfo[]
}

function malformed (err: unknown): never {
  if (err instanceof InvalidMessageError || err instanceof MessageTooLargeError) throw new MalformedError(err.message, { cause: err })
  throw err
}

/** Parses a header from a decoded value. [REJECT] on failure. */
export function parseHeader (value: unknown): BlockHeader {
  try {
    return parseWith(headerSchema, value, 'block header')
  } catch (err) { return malformed(err) }
}

/** Size check, DAG-CBOR decode, header schema, header hash. [REJECT] on failure. */
export function decodeBlock (bytes: Uint8Array): DecodedBlock {
  if (bytes.byteLength > MAX_BLOCK_BYTES) {
    throw new OversizeError(`block is ${bytes.byteLength} bytes, over the limit of ${MAX_BLOCK_BYTES}`, MAX_BLOCK_BYTES)
  }
  let shape: z.infer<typeof blockShape>
  try {
    shape = parseWith(blockShape, decode(bytes, MAX_BLOCK_BYTES, 'block'), 'block')
  } catch (err) { return malformed(err) }
  const header = parseHeader(shape.header)
  const hash = headerHash(header)
  return { header, hash, hashHex: toHex(hash), bytes, rawTxs: shape.txs }
}

/**
 * Parses the transactions of a decoded block and checks the count bound, each transaction's
 * size and the txRoot. [REJECT] on failure. Signatures are checked later (they cost most).
 */
export function parseBlockTransactions (block: DecodedBlock): TxInfo[] {
  if (block.txs != null) return block.txs
  // [REJECT] count bound before parsing anything
  if (block.rawTxs.length > MAX_TXS_PER_BLOCK) {
    throw new TooManyTransactionsError(`block has ${block.rawTxs.length} transactions, over the limit of ${MAX_TXS_PER_BLOCK}`)
  }
  const infos: TxInfo[] = []
  for (const raw of block.rawTxs) {
    let tx: Transaction
    try {
      tx = parseTransaction(raw)
    } catch (err) { return malformed(err) }
    const info = txInfo(tx)
    // [REJECT] per-transaction size bound
    if (info.bytes.byteLength > MAX_TX_BYTES) throw new OversizeError(`transaction ${info.hashHex} is ${info.bytes.byteLength} bytes, over the limit of ${MAX_TX_BYTES}`, MAX_TX_BYTES)
    infos.push(info)
  }
  // [REJECT] the header must commit to exactly these transactions
  if (!bytesEqual(txRootOf(infos.map((t) => t.hash)), block.header.txRoot)) throw new TxRootMismatchError()
  block.txs = infos
  return infos
}

/** Encodes a block. */
export function encodeBlock (block: Block): Uint8Array {
  return encode({ header: block.header, txs: block.txs })
}

/** Decodes a block the local node produced or stored (no peer involved: errors are bugs or corruption). */
export function decodeStoredBlock (bytes: Uint8Array): { decoded: DecodedBlock, txs: TxInfo[] } {
  const decoded = decodeBlock(bytes)
  return { decoded, txs: parseBlockTransactions(decoded) }
}
