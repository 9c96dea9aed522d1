/**
 * Records are DAG-CBOR, which has no `undefined`: optional fields left `undefined` are taken out
 * before a record is encoded.
 */

/** Removes `undefined` fields recursively without touching bytes or CIDs (a value without any is returned as it is). */
export function stripUndefined<T> (value: T): T {
  return hasUndefined(value) ? strip(value) : value
}

function hasUndefined (value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasUndefined)
  if (value == null || typeof value !== 'object' || value instanceof Uint8Array || (value as { asCID?: unknown }).asCID != null) return false
  for (const k in value) if (Object.hasOwn(value, k) && ((value as Record<string, unknown>)[k] === undefined || hasUndefined((value as Record<string, unknown>)[k]))) return true
  return false
}

function strip<T> (value: T): T {
  if (Array.isArray(value)) return value.map((v) => strip(v)) as T
  if (value == null || typeof value !== 'object' || value instanceof Uint8Array || (value as { asCID?: unknown }).asCID != null) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = strip(v)
  return out as T
}
