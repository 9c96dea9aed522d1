/**
 * Schema building blocks shared by every message that arrives from outside. Messages are
 * decoded from DAG-CBOR, then parsed with these, then signature-checked (size first, cost last).
 */
import { z } from 'zod'
import { CID } from 'multiformats/cid'
import { InvalidMessageError } from '../errors.ts'

/** A non-negative safe integer (amounts, heights, sizes, milliseconds since the epoch). */
export const uint = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

/** Largest unsigned 64-bit integer (fuel counts and limits). */
export const MAX_UINT64 = 2n ** 64n - 1n

/**
 * An unsigned 64-bit integer (fuel), as a bigint. DAG-CBOR decodes one that fits a safe integer
 * as a number and a larger one as a bigint; both encode to the same bytes, so both are accepted.
 */
export const uint64 = z.union([uint, z.bigint().nonnegative().max(MAX_UINT64)]).transform((v) => BigInt(v))

/** A CID value as DAG-CBOR decodes it (tag 42). */
export const cidSchema = z.custom<CID>((v) => CID.asCID(v) != null, { message: 'expected a CID' })
  .transform((v) => CID.asCID(v) as CID)

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
