/**
 * The key-value store components receive: the node's one LevelDB (or memory-level), of which
 * each component takes its own sublevel. Binary keys and values everywhere; each repository owns
 * its own encoding. `src/node/storage.ts` opens it.
 */
import type { AbstractLevel } from 'abstract-level'

export type Store = AbstractLevel<string | Uint8Array | Buffer, Uint8Array, Uint8Array>
