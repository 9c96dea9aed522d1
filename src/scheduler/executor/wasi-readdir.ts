/**
 * fd_readdir: a directory's entries as preview1 dirent records, in a fixed order, charged before
 * anything is copied (docs/protocol.md, "Host-call fuel"). The errno rules are in wasi-fs.ts.
 */
import { DIRENT_BYTES, ERRNO, FILETYPE } from './wasi-defs.ts'
import type { Errno } from './wasi-defs.ts'
import { HOST_BYTE_FUEL, HOST_DIRENT_FUEL } from './metering/constants.ts'
import type { Node } from './memfs.ts'
import type { Call, FsContext } from './wasi-fs.ts'

const encoder = new TextEncoder()
const DOT = encoder.encode('.')
const DOT_DOT = encoder.encode('..')
/** Where fd_readdir builds the 24-byte head of a record it has to cut. */
const direntScratch = (() => {
  const bytes = new Uint8Array(DIRENT_BYTES)
  return { bytes, view: new DataView(bytes.buffer) }
})()

export function readdirCall (ctx: FsContext): Call {
  const { memory: m, fs, fds, chargeFuel } = ctx
  /**
   * Entries in a fixed order: '.', '..', then the names sorted by their UTF-8 bytes. The
   * listing is taken when a read starts at cookie 0 and cookie n resumes after its n-th entry,
   * so entries removed meanwhile are skipped (and charged, `HOST_DIRENT_FUEL` each) and the others are neither skipped
   * nor repeated.
   * Listings are shared while a directory does not change and bounded in all (ENOMEM).
   */
  return function fd_readdir (fd: number, bufArg: number, bufLenArg: number, cookie: bigint, bufusedArg: number): Errno {
    m.refresh()
    const entry = fds.get(fd)
    const buf = bufArg >>> 0
    const bufLen = bufLenArg >>> 0
    const bufusedPtr = bufusedArg >>> 0
    if (entry === undefined) return ERRNO.BADF
    if (entry.kind === 'stream') return ERRNO.NOTSUP
    if (entry.kind === 'file') return ERRNO.NOTDIR
    if (!m.inBounds(buf, bufLen) || !m.inBounds(bufusedPtr, 4)) return ERRNO.FAULT
    if (cookie === 0n || entry.listing === undefined) {
      const listing = fs.acquireListing(entry.node)
      if (listing === undefined) return ERRNO.NOMEM
      if (entry.listing !== undefined) fs.releaseListing(entry.listing)
      entry.listing = listing
    }
    const dir = entry.node
    const { names, encoded } = entry.listing
    const count = names.length + 2 // '.' and '..' first
    const first = cookie > BigInt(count) ? count : Number(cookie)
    const nodeAt = (i: number): Node | undefined => i === 0 ? dir : i === 1 ? dir.parent ?? dir : dir.entries.get(names[i - 2])
    const nameAt = (i: number): Uint8Array => i === 0 ? DOT : i === 1 ? DOT_DOT : (encoded[i - 2] ??= encoder.encode(names[i - 2]))
    // first what fits and what is stepped over (its fuel is charged before anything is
    // copied), then the copy. An entry removed since the listing was taken is skipped, and
    // costs an entry all the same: the walk over it is work.
    let used = 0
    let entries = 0
    for (let i = first; i < count && used < bufLen; i++) {
      entries++
      if (nodeAt(i) !== undefined) used += Math.min(DIRENT_BYTES + nameAt(i).byteLength, bufLen - used)
    }
    chargeFuel(entries * HOST_DIRENT_FUEL + used * HOST_BYTE_FUEL)
    used = 0
    const { view, bytes } = m
    for (let i = first; i < count && used < bufLen; i++) {
      const node = nodeAt(i)
      if (node === undefined) continue
      const name = nameAt(i)
      const size = DIRENT_BYTES + name.byteLength
      // a record that does not fit is cut: bufused == buf_len tells the reader to come back
      const whole = size <= bufLen - used
      const at = whole ? buf + used : 0
      const to = whole ? view : direntScratch.view
      to.setUint32(at, i + 1, true) // d_next, a u64 (i + 1 < 2^32)
      to.setUint32(at + 4, 0, true)
      to.setBigUint64(at + 8, node.ino, true)
      to.setUint32(at + 16, name.byteLength, true)
      to.setUint32(at + 20, node.kind === 'dir' ? FILETYPE.DIRECTORY : FILETYPE.REGULAR_FILE, true) // and 3 bytes of padding
      if (whole) {
        if (name.byteLength <= 16) { // short names: a loop beats set()'s call
          for (let k = 0; k < name.byteLength; k++) bytes[at + DIRENT_BYTES + k] = name[k]
        } else {
          bytes.set(name, at + DIRENT_BYTES)
        }
        used += size
      } else {
        const take = bufLen - used // < size
        bytes.set(direntScratch.bytes.subarray(0, Math.min(take, DIRENT_BYTES)), buf + used)
        if (take > DIRENT_BYTES) bytes.set(name.subarray(0, take - DIRENT_BYTES), buf + used + DIRENT_BYTES)
        used += take
      }
    }
    m.view.setUint32(bufusedPtr, used, true)
    return ERRNO.SUCCESS
  }
}
