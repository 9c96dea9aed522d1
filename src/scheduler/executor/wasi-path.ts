/**
 * The preview1 calls on paths (path_*), relative to a directory descriptor, in the sandbox file
 * system. The errno rules are in wasi-fs.ts; the order of checks in memfs.ts.
 */
import { ERRNO, FDFLAGS, FILESTAT_BYTES, OFLAGS, RIGHT, WRITE_RIGHTS } from './wasi-defs.ts'
import type { Errno } from './wasi-defs.ts'
import type { FdEntry } from './fd-table.ts'
import { failed } from './memfs.ts'
import type { Node } from './memfs.ts'
import type { Call, FsContext } from './wasi-fs.ts'

export function pathCalls (ctx: FsContext): Record<string, Call> {
  const { memory: m, fs, fds, dirOf, startAndPath, writeFilestat } = ctx

  return {
    path_open (fd: number, _dirflags: number, pathPtr: number, pathLen: number, oflags: number,
      rightsBase: bigint, _rightsInheriting: bigint, fdflags: number, fdArg: number): Errno {
      const start = startAndPath(fd, pathPtr, pathLen)
      if (typeof start === 'number') return start
      const fdPtr = fdArg >>> 0
      if (!m.inBounds(fdPtr, 4)) return ERRNO.FAULT
      if (fds.full) return ERRNO.MFILE
      const wantsWrite = (BigInt(rightsBase) & WRITE_RIGHTS) !== 0n || (oflags & OFLAGS.TRUNC) !== 0 || (fdflags & FDFLAGS.APPEND) !== 0
      const create = (oflags & OFLAGS.CREAT) !== 0
      let node: Node
      if (create) {
        const p = fs.lookupParent(start.dir, start.path)
        if (failed(p)) return p.errno
        if (p.dir.tree.readonly) return ERRNO.ROFS
        if (p.node !== undefined) {
          if ((oflags & OFLAGS.EXCL) !== 0) return ERRNO.EXIST
          node = p.node
          if (node.kind === 'file' && p.mustBeDir) return ERRNO.NOTDIR
        } else {
          if (p.mustBeDir || (oflags & OFLAGS.DIRECTORY) !== 0) return ERRNO.ISDIR
          const made = fs.createFile(p.dir, p.name)
          if (failed(made)) return made.errno
          node = made.node
        }
      } else {
        const found = fs.lookup(start.dir, start.path)
        if (failed(found)) return found.errno
        node = found.node
        if (node.tree.readonly && wantsWrite) return ERRNO.ROFS
      }
      let opened: FdEntry
      if (node.kind === 'dir') {
        if (wantsWrite) return ERRNO.ISDIR
        opened = { kind: 'dir', node }
      } else {
        if ((oflags & OFLAGS.DIRECTORY) !== 0) return ERRNO.NOTDIR
        const rights = BigInt(rightsBase)
        if ((oflags & OFLAGS.TRUNC) !== 0 && node.data.size > 0) {
          const errno = fs.setSize(node, 0)
          if (errno !== ERRNO.SUCCESS) return errno
        }
        opened = { kind: 'file', node, pos: 0, read: (rights & RIGHT.FD_READ) !== 0n, write: (rights & RIGHT.FD_WRITE) !== 0n, append: (fdflags & FDFLAGS.APPEND) !== 0 }
        node.open++
      }
      const newFd = fds.open(opened)
      m.view.setUint32(fdPtr, newFd, true)
      return ERRNO.SUCCESS
    },

    path_filestat_get (fd: number, _flags: number, pathPtr: number, pathLen: number, bufArg: number): Errno {
      const start = startAndPath(fd, pathPtr, pathLen)
      if (typeof start === 'number') return start
      const buf = bufArg >>> 0
      if (!m.inBounds(buf, FILESTAT_BYTES)) return ERRNO.FAULT
      const found = fs.lookup(start.dir, start.path)
      if (failed(found)) return found.errno
      writeFilestat(buf, found.node)
      return ERRNO.SUCCESS
    },

    path_filestat_set_times (fd: number, _flags: number, pathPtr: number, pathLen: number): Errno {
      const start = startAndPath(fd, pathPtr, pathLen)
      if (typeof start === 'number') return start
      const found = fs.lookup(start.dir, start.path)
      if (failed(found)) return found.errno
      return found.node.tree.readonly ? ERRNO.ROFS : ERRNO.SUCCESS
    },

    path_create_directory (fd: number, pathPtr: number, pathLen: number): Errno {
      const start = startAndPath(fd, pathPtr, pathLen)
      if (typeof start === 'number') return start
      const p = fs.lookupParent(start.dir, start.path)
      if (failed(p)) return p.errno
      if (p.dir.tree.readonly) return ERRNO.ROFS
      if (p.node !== undefined) return ERRNO.EXIST
      return fs.createDir(p.dir, p.name)
    },

    path_remove_directory (fd: number, pathPtr: number, pathLen: number): Errno {
      const start = startAndPath(fd, pathPtr, pathLen)
      if (typeof start === 'number') return start
      const p = fs.lookupParent(start.dir, start.path)
      if (failed(p)) return p.errno
      if (p.dir.tree.readonly) return ERRNO.ROFS
      if (p.dotName) return ERRNO.INVAL
      if (p.node === undefined) return ERRNO.NOENT
      if (p.node.kind !== 'dir') return ERRNO.NOTDIR
      if (p.node.entries.size > 0) return ERRNO.NOTEMPTY
      fs.removeDir(p.dir, p.name, p.node)
      return ERRNO.SUCCESS
    },

    path_unlink_file (fd: number, pathPtr: number, pathLen: number): Errno {
      const start = startAndPath(fd, pathPtr, pathLen)
      if (typeof start === 'number') return start
      const p = fs.lookupParent(start.dir, start.path)
      if (failed(p)) return p.errno
      if (p.dir.tree.readonly) return ERRNO.ROFS
      if (p.node === undefined) return ERRNO.NOENT
      if (p.node.kind === 'dir') return ERRNO.ISDIR
      if (p.mustBeDir) return ERRNO.NOTDIR
      fs.unlinkFile(p.dir, p.name, p.node)
      return ERRNO.SUCCESS
    },

    path_rename (fd: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number): Errno {
      const from = startAndPath(fd, oldPtr, oldLen)
      if (typeof from === 'number') return from
      const to = startAndPath(newFd, newPtr, newLen)
      if (typeof to === 'number') return to
      const source = fs.lookupParent(from.dir, from.path)
      if (failed(source)) return source.errno
      const target = fs.lookupParent(to.dir, to.path)
      if (failed(target)) return target.errno
      if (source.dir.tree !== target.dir.tree) return ERRNO.XDEV
      if (source.dir.tree.readonly) return ERRNO.ROFS
      if (source.dotName || target.dotName) return ERRNO.INVAL
      if (source.node === undefined) return ERRNO.NOENT
      if (source.node.kind === 'file' && source.mustBeDir) return ERRNO.NOTDIR
      return fs.rename(source, target)
    },

    path_readlink (fd: number, pathPtr: number, pathLen: number): Errno {
      const start = startAndPath(fd, pathPtr, pathLen)
      if (typeof start === 'number') return start
      const found = fs.lookup(start.dir, start.path)
      return failed(found) ? found.errno : ERRNO.INVAL
    },

    path_symlink (_oldPtr: number, _oldLen: number, fd: number): Errno {
      const dir = dirOf(fd)
      return typeof dir === 'number' ? dir : ERRNO.NOTSUP
    },

    path_link (oldFd: number, _flags: number, _oldPtr: number, _oldLen: number, newFd: number): Errno {
      const a = dirOf(oldFd)
      if (typeof a === 'number') return a
      const b = dirOf(newFd)
      return typeof b === 'number' ? b : ERRNO.NOTSUP
    }
  }
}
