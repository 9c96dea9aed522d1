/**
 * The job's file descriptors: stdio, the two preopened directories and what it opens. New
 * descriptors take the lowest free number (as POSIX does), so numbering is the same on every
 * peer. The table is bounded (`maxOpenFds`, EMFILE past it).
 */
import type { DirNode, FileNode, Listing } from './memfs.ts'

/** stdin (0), stdout (1) or stderr (2), wherever fd_renumber moved it. */
export interface StreamEntry {
  kind: 'stream'
  stream: 0 | 1 | 2
}

export interface FileEntry {
  kind: 'file'
  node: FileNode
  /** Offset of the next fd_read/fd_write. */
  pos: number
  read: boolean
  write: boolean
  append: boolean
}

export interface DirEntry {
  kind: 'dir'
  node: DirNode
  /** '/in' or '/out' on the two preopened descriptors. */
  preopen?: string
  /** The listing fd_readdir walks, taken when it starts at cookie 0 (cookies index it). */
  listing?: Listing
}

export type FdEntry = StreamEntry | FileEntry | DirEntry

export class FdTable {
  private readonly entries = new Map<number, FdEntry>()
  private readonly max: number
  /** No number below this is free (so opening thousands of descriptors is not quadratic). */
  private lowestFree = 0

  constructor (max: number) {
    this.max = max
  }

  get (fd: number): FdEntry | undefined {
    return this.entries.get(fd)
  }

  get full (): boolean {
    return this.entries.size >= this.max
  }

  /** Puts `entry` at the lowest free number; -1 when the table is full. */
  open (entry: FdEntry): number {
    if (this.full) return -1
    let fd = this.lowestFree
    while (this.entries.has(fd)) fd++
    this.entries.set(fd, entry)
    this.lowestFree = fd + 1
    return fd
  }

  /** Removes `fd` and returns what it held. */
  close (fd: number): FdEntry | undefined {
    const entry = this.entries.get(fd)
    if (this.entries.delete(fd) && fd < this.lowestFree) this.lowestFree = fd
    return entry
  }

  /** Moves `from` to `to` (which the caller closed first). */
  move (from: number, to: number): void {
    const entry = this.entries.get(from)
    if (entry === undefined) return
    this.entries.delete(from)
    if (from < this.lowestFree) this.lowestFree = from
    this.entries.set(to, entry)
  }

  /** Every open entry (to release files at the end of a run). */
  values (): IterableIterator<FdEntry> {
    return this.entries.values()
  }
}
