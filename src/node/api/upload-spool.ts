/**
 * Where an upload's file parts wait until every part has passed its checks. A small part stays in
 * memory (within one budget for every upload of the process, upload-gate.ts); a large one, or any
 * part once the budget is spent, goes to a temporary file. An input tree of 100,000 small files then costs no file
 * system calls, and a 1 GiB part never costs 1 GiB of memory.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises'
import { Writable } from 'node:stream'
import { readFileShared } from '../../scheduler/files/disk.ts'

/** A part up to this size is kept in memory while the budget lasts. */
export const MEMORY_PART_BYTES = 64 * 1024
/** Bytes of small parts all uploads of the process keep in memory at once; past it they are spooled to disk too. */
export const MEMORY_SPOOL_BUDGET_BYTES = 64 * 1024 * 1024
/**
 * What one part kept in memory costs besides its bytes (its Buffer objects, chunk list and
 * record), counted against the budget: without it 100,000 one-byte parts counted as 100 kB while
 * they cost some 150 MB.
 */
export const PART_OVERHEAD_BYTES = 1024

/** A spooled part: its bytes in memory, or the temporary file that holds them. */
export type Spooled = { chunks: Buffer[], bytes: number } | { path: string, bytes: number }

/** Where a sink takes the memory for a part it keeps, and gives it back when the part moves to its file. */
export interface SpoolMemory {
  /** Takes `bytes` if that many are left; false (nothing taken) otherwise. */
  take: (bytes: number) => boolean
  give: (bytes: number) => void
}

/** A memory budget for spooled parts. */
export class SpoolBudget implements SpoolMemory {
  left: number
  constructor (bytes = MEMORY_SPOOL_BUDGET_BYTES) { this.left = bytes }

  take (bytes: number): boolean {
    if (bytes > this.left) return false
    this.left -= bytes
    return true
  }

  give (bytes: number): void { this.left += bytes }
}

/** Takes one part's bytes: in memory while it is small and the budget allows, else into `path`. */
export class SpoolSink extends Writable {
  private chunks: Buffer[] = []
  private bytes = 0
  private file?: FileHandle
  /** Memory taken from the budget for the chunks kept (their bytes and the part's overhead). */
  private charged = 0
  private readonly path: string
  private readonly budget: SpoolMemory

  constructor (path: string, budget: SpoolMemory) {
    super()
    this.path = path
    this.budget = budget
  }

  /** What was written, once the stream finished. */
  get spooled (): Spooled {
    return this.file != null ? { path: this.path, bytes: this.bytes } : { chunks: this.chunks, bytes: this.bytes }
  }

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.bytes += chunk.byteLength
    const cost = chunk.byteLength + (this.charged === 0 ? PART_OVERHEAD_BYTES : 0)
    if (this.file == null && this.bytes <= MEMORY_PART_BYTES && this.budget.take(cost)) {
      this.charged += cost
      // A copy: the chunk may be a slice of a 64 KiB socket read that it would keep alive.
      this.chunks.push(Buffer.from(chunk))
      callback()
      return
    }
    this.toFile(chunk).then(() => { callback() }, callback)
  }

  override _final (callback: (err?: Error | null) => void): void {
    if (this.file == null && this.charged === 0) {
      // An empty part costs its record too: in memory within the budget, else an empty file.
      if (this.budget.take(PART_OVERHEAD_BYTES)) this.charged = PART_OVERHEAD_BYTES
      else { this.emptyFile().then(() => { callback() }, callback); return }
    }
    if (this.file == null) { callback(); return }
    this.file.close().then(() => { callback() }, callback)
  }

  private async emptyFile (): Promise<void> {
    this.file = await open(this.path, 'w')
    await this.file.close()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.file == null) { callback(err); return }
    this.file.close().then(() => { callback(err) }, () => { callback(err) })
  }

  private async toFile (chunk: Buffer): Promise<void> {
    if (this.file == null) {
      // Over the size or the budget: what was kept in memory moves to the file, and gives its budget back.
      this.file = await open(this.path, 'w')
      for (const kept of this.chunks) await this.file.write(kept)
      this.chunks = []
      this.budget.give(this.charged)
      this.charged = 0
    }
    await this.file.write(chunk)
  }
}

/** A spooled part's bytes. */
export async function readSpooled (spooled: Spooled): Promise<Uint8Array> {
  if ('path' in spooled) return new Uint8Array(await readFile(spooled.path))
  return new Uint8Array(Buffer.concat(spooled.chunks, spooled.bytes))
}

/** A spooled part's bytes in a SharedArrayBuffer (the executor shares them with its threads without a copy). */
export async function readSpooledShared (spooled: Spooled): Promise<Uint8Array> {
  if ('path' in spooled) return await readFileShared(spooled.path)
  const out = new Uint8Array(new SharedArrayBuffer(spooled.bytes))
  let at = 0
  for (const chunk of spooled.chunks) {
    out.set(chunk, at)
    at += chunk.byteLength
  }
  return out
}
