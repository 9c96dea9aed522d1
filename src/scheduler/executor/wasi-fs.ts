/**
 * The preview1 calls on descriptors and paths: reading the guest's arguments out of its memory,
 * dispatching on what a descriptor is (a stdio stream, a file or a directory of the sandbox file
 * system, memfs.ts) and writing the answers back. Every call returns an errno; none throws into
 * the guest except stdout's cap (`OutputLimitExceeded`, from `Streams.write`).
 *
 * The same mistake gets the same errno everywhere:
 * - a descriptor that is not open: EBADF; a path call on a descriptor that is not a directory:
 *   ENOTDIR; fd_read/fd_pread/fd_seek/fd_tell/fd_allocate/fd_filestat_set_size on a directory: EISDIR;
 *   fd_write on a directory, reading a file not opened for reading or writing one not opened
 *   for writing: EBADF.
 * - stdio (0-2, wherever fd_renumber moved them): fd_seek, fd_tell, fd_pread, fd_pwrite are
 *   ESPIPE, other file and directory calls ENOTSUP.
 * - path bytes: over `maxPathBytes` ENAMETOOLONG, a NUL EINVAL, not UTF-8 EILSEQ; then the walk
 *   and the operation (memfs.ts says in which order).
 * - links: path_symlink and path_link are ENOTSUP (the sandbox has no links); path_readlink on
 *   anything that exists is EINVAL (it is not a symlink).
 * - timestamps are fixed at `VIRTUAL_EPOCH_NS`: the set_times calls change nothing and succeed
 *   (EROFS in /in).
 *
 * Fuel (metered runs; docs/protocol.md, "Fuel"). Every call costs `HOST_CALL_FUEL` on entry (the
 * shim's wrapper); then `chargeBytes` charges `HOST_BYTE_FUEL` per byte, and `chargeFuel` an
 * item's fuel, of:
 * - a path argument: its length, once its descriptor is a directory and it is within memory and
 *   `maxPathBytes` (so after EBADF, ENOTSUP, ENOTDIR, EFAULT, ENAMETOOLONG for it, before the
 *   bytes are read); path_rename charges its two paths one after the other;
 * - iovec arrays: fd_read/fd_write/fd_pread/fd_pwrite `HOST_IOVEC_FUEL` per iovec, once the array and the
 *   result pointer are within memory and before the entries are read (over `IOV_MAX` iovecs is
 *   EINVAL, charged nothing);
 * - file data: fd_read/fd_pread the bytes they will read; fd_write/fd_pwrite the bytes the caps
 *   let them write plus the zero bytes a write starting past the end adds (a write refused by a cap
 *   moves nothing); fd_filestat_set_size/fd_allocate the zero bytes the file grows by;
 * - fd_readdir: `HOST_DIRENT_FUEL` per entry it will place (a cut last record too) or step over (an
 *   entry removed since the listing was taken), plus the bytes it will place (its bufused);
 * - fd_prestat_dir_name: the name it will copy ('/in', '/out').
 * Each is charged in one piece after the call's checks and before its effect, so a call that runs
 * out of fuel changes nothing. (stdio reads and writes charge through `Streams`, buffer by buffer.)
 * Metering changes nothing else: without it `chargeBytes` does nothing and every call behaves the same.
 */
import { VIRTUAL_EPOCH_NS } from './constants.ts'
import { ERRNO, FILESTAT_BYTES, FILETYPE } from './wasi-defs.ts'
import type { Errno } from './wasi-defs.ts'
import type { FdEntry, FdTable } from './fd-table.ts'
import type { GuestMemory } from './guest-memory.ts'
import type { DirNode, MemFs, Node } from './memfs.ts'
import { fdCalls } from './wasi-fd.ts'
import { pathCalls } from './wasi-path.ts'

/** stdio as the file calls reach it (the shim owns the buffers). */
export interface Streams {
  /** Copies the next stdin bytes into `into`; returns how many. */
  read: (into: Uint8Array) => number
  /** Appends to stdout (1) or stderr (2); throws `OutputLimitExceeded` past stdout's cap. */
  write: (stream: 1 | 2, bytes: Uint8Array) => void
}

export interface WasiFsInit {
  memory: GuestMemory
  fs: MemFs
  fds: FdTable
  streams: Streams
  /**
   * Charges fuel for `n` bytes moved (throws, out of fuel, when that passes the limit); called
   * before the effect it pays for. Does nothing when the run is not metered.
   */
  chargeBytes: (n: number) => void
  /** Charges `fuel` (per-item fuel: iovecs, directory entries), the same way. */
  chargeFuel: (fuel: number) => void
}

export type Call = (...args: any[]) => Errno

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** What the descriptor and path calls share: the state and the argument decoding. */
export interface FsContext extends WasiFsInit {
  /** The directory a path call starts from, or the errno for `fd`. */
  dirOf: (fd: number) => DirNode | Errno
  /** Refreshes memory views, then: the start directory and the path (in that order of checks), or an errno. */
  startAndPath: (fd: number, ptr: number, len: number) => { dir: DirNode, path: string } | Errno
  /** Writes a `filestat` of `node` at `ptr` (bounds checked by the caller). */
  writeFilestat: (ptr: number, node: Node) => void
  /** Lets go of what a closed descriptor held. */
  release: (entry: FdEntry | undefined) => void
}

/** The preview1 functions on descriptors and paths, keyed by their import names. */
export function createWasiFs (init: WasiFsInit): Record<string, Call> {
  const { memory: m, fs, fds, chargeBytes } = init

  /** The directory a path call starts from, or the errno for `fd`. */
  const dirOf = (fd: number): DirNode | Errno => {
    const entry = fds.get(fd)
    if (entry === undefined) return ERRNO.BADF
    if (entry.kind === 'stream') return ERRNO.NOTSUP
    if (entry.kind !== 'dir') return ERRNO.NOTDIR
    return entry.node
  }

  /** A path argument as a string, or the errno for its bytes. */
  const pathAt = (ptrArg: number, lenArg: number): string | Errno => {
    const ptr = ptrArg >>> 0
    const len = lenArg >>> 0
    if (!m.inBounds(ptr, len)) return ERRNO.FAULT
    if (len > fs.limits.maxPathBytes) return ERRNO.NAMETOOLONG
    chargeBytes(len)
    const bytes = m.bytes.subarray(ptr, ptr + len)
    if (bytes.includes(0)) return ERRNO.INVAL
    try {
      return utf8.decode(bytes)
    } catch {
      return ERRNO.ILSEQ
    }
  }

  /** Both at once: the start directory and the path (in that order of checks). */
  const startAndPath = (fd: number, ptr: number, len: number): { dir: DirNode, path: string } | Errno => {
    m.refresh()
    const dir = dirOf(fd)
    if (typeof dir === 'number') return dir
    const path = pathAt(ptr, len)
    if (typeof path === 'number') return path
    return { dir, path }
  }

  const writeFilestat = (ptr: number, node: Node): void => {
    const { view } = m
    m.bytes.fill(0, ptr, ptr + FILESTAT_BYTES)
    view.setBigUint64(ptr, node.tree === fs.in ? 1n : 2n, true) // dev: one per tree
    view.setBigUint64(ptr + 8, node.ino, true)
    view.setUint8(ptr + 16, node.kind === 'dir' ? FILETYPE.DIRECTORY : FILETYPE.REGULAR_FILE)
    view.setBigUint64(ptr + 24, node.kind === 'dir' ? 1n : BigInt(node.links), true)
    view.setBigUint64(ptr + 32, node.kind === 'dir' ? 0n : BigInt(node.data.size), true)
    view.setBigUint64(ptr + 40, VIRTUAL_EPOCH_NS, true)
    view.setBigUint64(ptr + 48, VIRTUAL_EPOCH_NS, true)
    view.setBigUint64(ptr + 56, VIRTUAL_EPOCH_NS, true)
  }

  const release = (entry: FdEntry | undefined): void => {
    if (entry?.kind === 'file') fs.closed(entry.node)
    if (entry?.kind === 'dir' && entry.listing !== undefined) fs.releaseListing(entry.listing)
  }

  const ctx: FsContext = { ...init, dirOf, startAndPath, writeFilestat, release }
  return { ...fdCalls(ctx), ...pathCalls(ctx) }
}
