/**
 * Which blobs each kind of record references: one function per record type, the only place that
 * knows. Retention keeps a pinned blob exactly while a kept record lists it here (or lists a file
 * manifest that lists it: a referenced CID with the dag-cbor codec is a manifest, and the files it
 * names are referenced too; see `LiveSet`). A new CID field in a record belongs here.
 */
import { CID } from 'multiformats/cid'
import type { BatchRecord, BatchTaskRecord, RequestedJob } from '../job-store.ts'

/** A job this node requested: its module and stdin, and the accepted stdout and stderr. */
export function jobBlobs (record: RequestedJob): CID[] {
  return cids([record.body.module, record.body.input, record.outputCid, record.stderrCid])
}

/** A batch: its module (each task's blobs are on the task's record). */
export function batchBlobs (record: BatchRecord): CID[] {
  return cids([record.body.module])
}

/** A batch's task: its stdin, and the accepted stdout and stderr. */
export function batchTaskBlobs (task: BatchTaskRecord): CID[] {
  return cids([task.input, task.outputCid, task.stderrCid])
}

function cids (values: Array<CID | string | undefined>): CID[] {
  const out: CID[] = []
  for (const value of values) {
    if (value == null) continue
    const cid = typeof value === 'string' ? CID.parse(value) : CID.asCID(value)
    if (cid != null) out.push(cid)
  }
  return out
}
