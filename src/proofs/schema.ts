/**
 * Schema building blocks shared by every message that arrives from outside. Messages are
 * decoded from DAG-CBOR, then parsed with these, then signature-checked (size first, cost last).
 */
import { z } from 'zod'
import { CID } from 'multiformats/cid'
import { InvalidMessageError } from '../errors.ts'
import { DAG_CBOR_CODE, RAW_CODE, SHA256_CODE } from './encoding.ts'

/** A non-negative safe integer (amounts, heights, sizes, milliseconds since the epoch). */
export const uint = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

/** Largest unsigned 64-bit integer (fuel counts and limits). */
export const MAX_UINT64 = 2n ** 64n - 1n

/**
 * An unsigned 64-bit integer (fuel), as a bigint. DAG-CBOR decodes one that fits a safe integer
 * as a number and a larger one as a bigint; both encode to the same bytes, so both are accepted.
 */
export const uint64 = z.union([uint, z.bigint().nonnegative().max(MAX_UINT64)]).transform((v) => BigInt(v))

/** A CID value as DAG-CBOR decodes it (tag 42), of any kind (records this node wrote itself). */
export const cidSchema = z.custom<CID>((v) => CID.asCID(v) != null, { message: 'expected a CID' })
  .transform((v) => CID.asCID(v) as CID)

/**
 * The content addresses of the protocol (docs/protocol.md, "Content addresses"): CIDv1 with a
 * sha2-256 multihash, codec `raw` for blobs (modules, inputs, outputs, files) and `dag-cbor` for
 * objects (task and lease ids, manifests). Decoding is strict: the same bytes under another
 * codec, version or hash are another CID, and honest replicas would seem to disagree.
 */
export type CidKind = 'blob' | 'object' | 'content'

/** `v` as a CID when it is one of `kind` (`content`: a blob or an object); undefined otherwise. */
export function asProtocolCid (v: unknown, kind: CidKind): CID | undefined {
  const cid = CID.asCID(v)
  if (cid == null || cid.version !== 1 || cid.multihash.code !== SHA256_CODE || cid.multihash.size !== 32) return undefined
  const code = cid.code
  return (kind === 'blob' ? code === RAW_CODE : kind === 'object' ? code === DAG_CBOR_CODE : code === RAW_CODE || code === DAG_CBOR_CODE) ? cid : undefined
}

function protocolCidSchema (kind: CidKind, what: string) {
  return z.custom<CID>((v) => asProtocolCid(v, kind) !== undefined, { message: `expected ${what}` })
    .transform((v) => CID.asCID(v) as CID)
}

/** A blob's CID: CIDv1, raw, sha2-256. */
export const blobCidSchema = protocolCidSchema('blob', 'a CIDv1 raw sha2-256')
/** An object's CID (a task, lease or offer id, a manifest): CIDv1, dag-cbor, sha2-256. */
export const objectCidSchema = protocolCidSchema('object', 'a CIDv1 dag-cbor sha2-256')
/** Either (a blob a worker asks for may be a file or a manifest). */
export const contentCidSchema = protocolCidSchema('content', 'a CIDv1 raw or dag-cbor sha2-256')

/** Bytes, optionally of an exact length. */
export function bytes (length?: number, maxLength = 1 << 20): z.ZodType<Uint8Array> {
  return z.custom<Uint8Array>((v) => v instanceof Uint8Array && (length == null ? v.byteLength <= maxLength : v.byteLength === length), {
    message: length == null ? `expected at most ${maxLength} bytes` : `expected ${length} bytes`
  })
}

/** An Ed25519 signature. */
export const signatureSchema = bytes(64)

/**
 * A peer id string. Ed25519 peer ids are 52 base58btc characters starting with 12D3KooW; the
 * signature check later proves the key is real, this only bounds what reaches it.
 */
export const peerIdSchema = z.string().regex(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/, 'expected an Ed25519 peer id')

/** Parses a value against a schema, throwing `InvalidMessageError` with the first problem's path. */
export function parseWith<T> (schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : ''
    throw new InvalidMessageError(`invalid ${what}${where}: ${issue.message}`)
  }
  return parsed.data
}
