/**
 * The preview1 calls on descriptors (fd_*): stdio streams, files and directories of the sandbox
 * file system. The errno rules are in wasi-fs.ts.
 */
import {
  ALL_RIGHTS, ERRNO, FDFLAGS, FDSTAT_BYTES, FILE_BASE_RIGHTS, FILESTAT_BYTES, FILETYPE,
  PREOPENTYPE_DIR, RIGHT, WHENCE, WRITE_RIGHTS
} from './wasi-defs.ts'
import type { Errno } from './wasi-defs.ts'
import type { FdEntry, FileEntry } from './fd-table.ts'
import { IOV_MAX, IOVEC_BYTES } from './guest-memory.ts'
import { HOST_BYTE_FUEL, HOST_IOVEC_FUEL } from './metering/constants.ts'
import type { Iovecs } from './guest-memory.ts'
import { failed } from './memfs.ts'
import type { Call, FsContext } from './wasi-fs.ts'
import { readdirCall } from './wasi-readdir.ts'

const encoder = new TextEncoder()
/** The preopens' names as bytes ('/in', '/out'), encoded once: a host call that allocates costs several cheap ones. */
const preopenNames = new Map<string, Uint8Array>()
const preopenName = (name: string): Uint8Array => {
  let bytes = preopenNames.get(name)
  if (bytes === undefined) preopenNames.set(name, bytes = encoder.encode(name))
  return bytes
}
const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER)

export function fdCalls (ctx: FsContext): Record<string, Call> {
  const { memory: m, fs, fds, streams, writeFilestat, release, chargeBytes, chargeFuel } = ctx

  /**
   * The iovec array of a read or write and the pointer its count goes to: EINVAL over
   * `IOV_MAX` entries, EFAULT when the array or the count is outside memory; then the entries
   * (`HOST_IOVEC_FUEL` each) are charged before they are read, and a buffer outside memory is EFAULT.
   */
  const iovecsAt = (iovsArg: number, iovsLenArg: number, resultPtr: number): Iovecs | Errno => {
    const ptr = iovsArg >>> 0
    const count = iovsLenArg >>> 0
    if (count > IOV_MAX) return ERRNO.INVAL
    if (!m.inBounds(ptr, count * IOVEC_BYTES) || !m.inBounds(resultPtr, 4)) return ERRNO.FAULT
    chargeFuel(count * HOST_IOVEC_FUEL)
    return m.iovecs(ptr, count) ?? ERRNO.FAULT
  }

  /** Reads into iovecs from a file at `pos` (charging the bytes first); returns the count. */
  const readFile = (entry: FileEntry, bufs: Iovecs, pos: number): number => {
    chargeBytes(Math.min(bufs.total, Math.max(0, entry.node.data.size - pos)))
    let total = 0
    for (let i = 0; i < bufs.count; i++) {
      if (bufs.lengthAt(i) === 0) continue
      const buf = bufs.at(i)
      const n = entry.node.data.read(pos + total, buf)
      total += n
      if (n < buf.byteLength) break
    }
    return total
  }

  /**
   * Writes iovecs to a file at `pos`; a short count when a cap stopped it after some bytes. The
   * fuel for all of it (bytes and zeros, see `MemFs.planWrite`) is charged before the first byte.
   */
  const writeFile = (entry: FileEntry, bufs: Iovecs, pos: number): { written: number } | { errno: Errno } => {
    const plan = fs.planWrite(entry.node, pos, bufs.total)
    if (failed(plan)) return plan
    chargeBytes(plan.written + plan.zeros)
    let total = 0
    for (let i = 0; i < bufs.count; i++) {
      if (bufs.lengthAt(i) === 0) continue
      const buf = bufs.at(i)
      const r = fs.write(entry.node, pos + total, buf)
      if (failed(r)) return total > 0 ? { written: total } : r
      total += r.written
      if (r.written < buf.byteLength) break
    }
    return { written: total }
  }

  const calls: Record<string, Call> = {
    fd_read (fd: number, iovsArg: number, iovsLenArg: number, nreadArg: number): Errno {
      m.refresh()
      const entry = fds.get(fd)
      const nreadPtr = nreadArg >>> 0
      if (entry === undefined) return ERRNO.BADF
      if (entry.kind === 'dir') return ERRNO.ISDIR
      if (entry.kind === 'stream' ? entry.stream !== 0 : !entry.read) return ERRNO.BADF
      const bufs = iovecsAt(iovsArg, iovsLenArg, nreadPtr)
      if (typeof bufs === 'number') return bufs
      let total = 0
      if (entry.kind === 'stream') {
        for (let i = 0; i < bufs.count; i++) {
          if (bufs.lengthAt(i) === 0) continue // reads nothing, and a full stdin does not stop the loop either
          const buf = bufs.at(i)
          const n = streams.read(buf)
          total += n
          if (n < buf.byteLength) break
        }
      } else {
        total = readFile(entry, bufs, entry.pos)
        entry.pos += total
      }
      m.view.setUint32(nreadPtr, total, true)
      return ERRNO.SUCCESS
    },

    fd_pread (fd: number, iovsArg: number, iovsLenArg: number, offset: bigint, nreadArg: number): Errno {
      m.refresh()
      const entry = fds.get(fd)
      const nreadPtr = nreadArg >>> 0
      if (entry === undefined) return ERRNO.BADF
      if (entry.kind === 'stream') return ERRNO.SPIPE
      if (entry.kind === 'dir') return ERRNO.ISDIR
      if (!entry.read) return ERRNO.BADF
      if (offset < 0n) return ERRNO.INVAL
      const bufs = iovecsAt(iovsArg, iovsLenArg, nreadPtr)
      if (typeof bufs === 'number') return bufs
      const total = offset > MAX_OFFSET ? 0 : readFile(entry, bufs, Number(offset))
      m.view.setUint32(nreadPtr, total, true)
      return ERRNO.SUCCESS
    },

    fd_write (fd: number, iovsArg: number, iovsLenArg: number, nwrittenArg: number): Errno {
      m.refresh()
      const entry = fds.get(fd)
      const nwrittenPtr = nwrittenArg >>> 0
      if (entry === undefined || entry.kind === 'dir') return ERRNO.BADF
      if (entry.kind === 'stream' ? entry.stream === 0 : !entry.write) return ERRNO.BADF
      const bufs = iovecsAt(iovsArg, iovsLenArg, nwrittenPtr)
      if (typeof bufs === 'number') return bufs
      let total = 0
      if (entry.kind === 'stream') {
        for (let i = 0; i < bufs.count; i++) {
          if (bufs.lengthAt(i) === 0) continue // appends nothing, not even past the cap
          const buf = bufs.at(i)
          streams.write(entry.stream as 1 | 2, buf)
          total += buf.byteLength // stderr past its cap: dropped but reported written
        }
      } else {
        if (entry.append) entry.pos = entry.node.data.size
        const r = writeFile(entry, bufs, entry.pos)
        if (failed(r)) return r.errno
        total = r.written
        entry.pos += total
      }
      m.view.setUint32(nwrittenPtr, total, true)
      return ERRNO.SUCCESS
    },

    fd_pwrite (fd: number, iovsArg: number, iovsLenArg: number, offset: bigint, nwrittenArg: number): Errno {
      m.refresh()
      const entry = fds.get(fd)
      const nwrittenPtr = nwrittenArg >>> 0
      if (entry === undefined) return ERRNO.BADF
      if (entry.kind === 'stream') return ERRNO.SPIPE
      if (entry.kind === 'dir' || !entry.write) return ERRNO.BADF
      if (offset < 0n) return ERRNO.INVAL
      const bufs = iovecsAt(iovsArg, iovsLenArg, nwrittenPtr)
      if (typeof bufs === 'number') return bufs
      if (offset > MAX_OFFSET) return ERRNO.FBIG
      const r = writeFile(entry, bufs, Number(offset))
      if (failed(r)) return r.errno
      m.view.setUint32(nwrittenPtr, r.written, true)
      return ERRNO.SUCCESS
    },

    fd_seek (fd: number, offset: bigint, whence: number, newOffsetArg: number): Errno {
      m.refresh()
      const entry = fds.get(fd)
      const ptr = newOffsetArg >>> 0
      if (entry === undefined) return ERRNO.BADF
      if (entry.kind === 'stream') return ERRNO.SPIPE
      if (entry.kind === 'dir') return ERRNO.ISDIR
      const base = whence === WHENCE.SET ? 0n : whence === WHENCE.CUR ? BigInt(entry.pos) : whence === WHENCE.END ? BigInt(entry.node.data.size) : -1n
      if (base < 0n) return ERRNO.INVAL
      const next = base + offset
      if (next < 0n) return ERRNO.INVAL
      if (next > MAX_OFFSET) return ERRNO.OVERFLOW
      if (!m.inBounds(ptr, 8)) return ERRNO.FAULT
      entry.pos = Number(next)
      m.view.setBigUint64(ptr, next, true)
      return ERRNO.SUCCESS
    },

    fd_tell (fd: number, offsetArg: number): Errno {
      m.refresh()
      const entry = fds.get(fd)
      const ptr = offsetArg >>> 0
      if (entry === undefined) return ERRNO.BADF
      if (entry.kind === 'stream') return ERRNO.SPIPE
      if (entry.kind === 'dir') return ERRNO.ISDIR
      if (!m.inBounds(ptr, 8)) return ERRNO.FAULT
      m.view.setBigUint64(ptr, BigInt(entry.pos), true)
      return ERRNO.SUCCESS
    },

    fd_close (fd: number): Errno {
      const entry = fds.close(fd)
      if (entry === undefined) return ERRNO.BADF
      release(entry)
      return ERRNO.SUCCESS
    },

    fd_renumber (from: number, to: number): Errno {
      if (fds.get(from) === undefined || fds.get(to) === undefined) return ERRNO.BADF
      if (from === to) return ERRNO.SUCCESS
      release(fds.close(to))
      fds.move(from, to)
      return ERRNO.SUCCESS
    },

    fd_fdstat_get (fd: number, ptrArg: number): Errno {
      m.refresh()
      const entry = fds.get(fd)
      const ptr = ptrArg >>> 0
      if (entry === undefined) return ERRNO.BADF
      if (!m.inBounds(ptr, FDSTAT_BYTES)) return ERRNO.FAULT
      m.bytes.fill(0, ptr, ptr + FDSTAT_BYTES)
      const { view } = m
      if (entry.kind === 'stream') {
        // non-terminal streams, so stdout is fully buffered the same way everywhere
        view.setUint8(ptr, FILETYPE.UNKNOWN)
        view.setBigUint64(ptr + 8, (entry.stream === 0 ? RIGHT.FD_READ : RIGHT.FD_WRITE) | RIGHT.POLL_FD_READWRITE, true)
      } else if (entry.kind === 'file') {
        view.setUint8(ptr, FILETYPE.REGULAR_FILE)
        view.setUint16(ptr + 2, entry.append ? FDFLAGS.APPEND : 0, true)
        const rights = FILE_BASE_RIGHTS | (entry.read ? RIGHT.FD_READ : 0n) | (entry.write ? WRITE_RIGHTS : 0n)
        view.setBigUint64(ptr + 8, rights, true)
      } else {
        // wasi-libc opens with (wanted rights & the directory's inheriting rights): offer all,
        // and refuse what the tree does not allow when the call is made (EROFS in /in)
        view.setUint8(ptr, FILETYPE.DIRECTORY)
        view.setBigUint64(ptr + 8, ALL_RIGHTS, true)
        view.setBigUint64(ptr + 16, ALL_RIGHTS, true)
      }
      return ERRNO.SUCCESS
    },

    fd_fdstat_set_flags (fd: number, flags: number): Errno {
      const entry = fds.get(fd)
      if (entry === undefined) return ERRNO.BADF
      if (entry.kind === 'stream') return ERRNO.NOTSUP
      if (entry.kind === 'file') entry.append = (flags & FDFLAGS.APPEND) !== 0
      return ERRNO.SUCCESS
    },

    fd_fdstat_set_rights (fd: number): Errno {
      return fds.get(fd) === undefined ? ERRNO.BADF : ERRNO.NOTSUP
    },

    fd_filestat_get (fd: number, ptrArg: number): Errno {
      m.refresh()
      const entry = fds.get(fd)
      const ptr = ptrArg >>> 0
      if (entry === undefined) return ERRNO.BADF
      if (!m.inBounds(ptr, FILESTAT_BYTES)) return ERRNO.FAULT
      if (entry.kind === 'stream') {
        m.bytes.fill(0, ptr, ptr + FILESTAT_BYTES) // dev, ino, filetype unknown, nlink, size, times: all 0
      } else {
        writeFilestat(ptr, entry.node)
      }
      return ERRNO.SUCCESS
    },

    fd_filestat_set_size (fd: number, size: bigint): Errno {
      const entry = fds.get(fd)
      if (entry === undefined) return ERRNO.BADF
      if (entry.kind === 'stream') return ERRNO.NOTSUP
      if (entry.kind === 'dir') return ERRNO.ISDIR
      if (!entry.write) return ERRNO.BADF
      if (size < 0n) return ERRNO.INVAL
      if (size > MAX_OFFSET) return ERRNO.FBIG
      return fs.setSize(entry.node, Number(size), chargeBytes)
    },

    fd_allocate (fd: number, offset: bigint, len: bigint): Errno {
      const entry = fds.get(fd)
      if (entry === undefined) return ERRNO.BADF
      if (entry.kind === 'stream') return ERRNO.NOTSUP
      if (entry.kind === 'dir') return ERRNO.ISDIR
      if (!entry.write) return ERRNO.BADF
      if (offset < 0n || len <= 0n) return ERRNO.INVAL
      const end = offset + len
      if (end > MAX_OFFSET) return ERRNO.FBIG
      return end > BigInt(entry.node.data.size) ? fs.setSize(entry.node, Number(end), chargeBytes) : ERRNO.SUCCESS
    },

    fd_filestat_set_times (fd: number): Errno {
      const entry = fds.get(fd)
      if (entry === undefined) return ERRNO.BADF
      if (entry.kind === 'stream') return ERRNO.NOTSUP
      return entry.node.tree.readonly ? ERRNO.ROFS : ERRNO.SUCCESS
    },

    fd_advise (fd: number, _offset: bigint, _len: bigint, advice: number): Errno {
      const entry = fds.get(fd)
      if (entry === undefined) return ERRNO.BADF
      if (entry.kind === 'stream') return ERRNO.NOTSUP
      return advice >= 0 && advice <= 5 ? ERRNO.SUCCESS : ERRNO.INVAL
    },

    fd_sync (fd: number): Errno { return syncLike(fds.get(fd)) },
    fd_datasync (fd: number): Errno { return syncLike(fds.get(fd)) },

    fd_prestat_get (fd: number, ptrArg: number): Errno {
      m.refresh()
      const entry = fds.get(fd)
      const ptr = ptrArg >>> 0
      if (entry?.kind !== 'dir' || entry.preopen === undefined) return ERRNO.BADF
      if (!m.inBounds(ptr, 8)) return ERRNO.FAULT
      m.bytes.fill(0, ptr, ptr + 8)
      m.view.setUint8(ptr, PREOPENTYPE_DIR)
      m.view.setUint32(ptr + 4, preopenName(entry.preopen).byteLength, true)
      return ERRNO.SUCCESS
    },

    fd_prestat_dir_name (fd: number, ptrArg: number, lenArg: number): Errno {
      m.refresh()
      const entry = fds.get(fd)
      const ptr = ptrArg >>> 0
      const len = lenArg >>> 0
      if (entry?.kind !== 'dir' || entry.preopen === undefined) return ERRNO.BADF
      const name = preopenName(entry.preopen)
      if (len < name.byteLength) return ERRNO.INVAL
      if (!m.inBounds(ptr, name.byteLength)) return ERRNO.FAULT
      chargeBytes(name.byteLength)
      m.bytes.set(name, ptr)
      return ERRNO.SUCCESS
    },

    fd_readdir: readdirCall(ctx)
  }

  function syncLike (entry: FdEntry | undefined): Errno {
    if (entry === undefined) return ERRNO.BADF
    return entry.kind === 'stream' ? ERRNO.NOTSUP : ERRNO.SUCCESS
  }

  return calls
}
