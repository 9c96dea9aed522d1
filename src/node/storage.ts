/**
 * The node's one key-value store: LevelDB in `<dataDir>/db`, or memory-level without a data dir.
 * Components get their own sublevel (`!ledger!…`, `!jobs!…`, `!blobs!…`); a retired name is never reused.
 */
import { Level } from 'level'
import { MemoryLevel } from 'memory-level'
import { stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Store } from '../shared/store.ts'
import { DataDirInUseError } from './errors.ts'

export type { Store }

export async function openStore (path?: string): Promise<Store> {
  const db: Store = path != null
    ? new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Store
    : new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Store
  try {
    await db.open()
  } catch (err) {
    // LevelDB's LOCK file: another process (a second `depin start` on this data dir) has it open.
    if ((err as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED' && path != null) {
      throw new DataDirInUseError(dirname(path), '', { cause: err })
    }
    throw err
  }
  return db
}

/**
 * True when another process (or this one) holds the LevelDB lock of the store at `path`, i.e. a
 * running node has it open. Opens and closes the store when it is free; a missing store is free
 * and is not created.
 */
export async function isStoreLocked (path: string): Promise<boolean> {
  try {
    await stat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
  const db = new Level<Uint8Array, Uint8Array>(path, { createIfMissing: false, keyEncoding: 'view', valueEncoding: 'view' })
  try {
    await db.open()
  } catch (err) {
    // Anything else (no database yet, a damaged one) is for the node's own start to report.
    return (err as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED'
  }
  await db.close()
  return false
}
