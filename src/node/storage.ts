/**
 * The node's one key-value store: LevelDB in `<dataDir>/db`, or memory-level without a data dir.
 * Components get their own sublevel (`!ledger!…`, `!jobs!…`, `!blobs!…`); a retired name is never reused.
 */
import { Level } from 'level'
import { MemoryLevel } from 'memory-level'
import type { Store } from '../shared/store.ts'

export type { Store }

export async function openStore (path?: string): Promise<Store> {
  const db: Store = path != null
    ? new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Store
    : new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Store
  await db.open()
  return db
}
