/**
 * Which blobs each kind of record references: one function per record type, the only place that
 * knows. Retention keeps a pinned blob exactly while a kept record lists it here (or lists a file
 * manifest that lists it: a referenced CID with the dag-cbor codec is a manifest, and the files it
 * names are referenced too; see `LiveSet`). A new CID field in a record belongs here.
 */
import { CID } from 'multiformats/cid'
import type { BatchRecord, BatchTaskRecord, RequestedJob } from '../job-store.ts'

/**
 * A job this node requested: its module, stdin and input manifest (with its files), and the
 * accepted stdout, stderr and output manifest (with its files).
 */
export function jobBlobs (record: RequestedJob): CID[] {
  return cids([record.body.module, record.body.input, record.body.files?.cid, record.outputCid, record.stderrCid, record.filesCid])
}

/** A batch: its module and the input manifest every task shares (each task's own blobs are on its record). */
export function batchBlobs (record: BatchRecord): CID[] {
  return cids([record.body.module, record.body.files?.cid])
}

/** A batch's task: its stdin, and the accepted stdout, stderr and output manifest. */
export function batchTaskBlobs (task: BatchTaskRecord): CID[] {
  return cids([task.input, task.outputCid, task.stderrCid, task.filesCid])
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
