/**
 * The index of requested jobs by creation time (a time index: see time-index.ts), so that a list
 * of the newest N (the API's `GET /v1/jobs?limit=N`, polled by the dashboard) reads N records,
 * not every record kept.
 *
 *   `requested-at`  createdAt (8 bytes, BE) ‖ utf8(job id) → utf8(digest)
 *   `meta`          `requested-at` → [1] once the index holds every record (built once on an
 *                   older store, when the scheduler starts)
 *
 * The digest is what a list filters on without the record: its status, whether it was verified,
 * and whether its program exited 0 without a trap (`completed 11`). It is written with the record
 * (`JobStore.putRequested`, same batch) and deleted with it.
 */
import type { JobStatus, RequestedJob } from './job-store.ts'
import { parseTimeKey, timeKey } from './time-index.ts'

const enc = new TextEncoder()
const dec = new TextDecoder()

/** What a listing knows of a stored job without reading its record. */
export interface RequestedDigest {
  id: string
  createdAt: number
  status: JobStatus
  verified: boolean
  /** Exit code 0 and no trap. */
  ok: boolean
}

export function indexKey (id: string, createdAt: number): Uint8Array {
  return timeKey(id, createdAt)
}

export function digestOf (record: RequestedJob): Uint8Array {
  return enc.encode(`${record.status} ${record.verified === true ? 1 : 0}${record.exitCode === 0 && record.trap == null ? 1 : 0}`)
}

export function parseIndexEntry (key: Uint8Array, value: Uint8Array): RequestedDigest {
  const { id, at } = parseTimeKey(key)
  const [status, flags = '00'] = dec.decode(value).split(' ')
  return { id, createdAt: at, status: status as JobStatus, verified: flags[0] === '1', ok: flags[1] === '1' }
}
