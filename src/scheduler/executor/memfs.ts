/**
 * The sandbox's file system: two in-memory trees, `/in` (read-only, the job's input files) and
 * `/out` (writable, empty at the start), inside the worker thread. Nothing here can name a host
 * path: there are no host paths, no symlinks and no hard links, and `..` stops at a tree's root
 * (ENOTCAPABLE) instead of leaving it.
 *
 * Determinism: inode numbers are handed out in a fixed order (/in's tree in path order, then
 * /out and what the job creates, in the order it creates it), timestamps are fixed (see
 * wasi-fs.ts), listings are sorted by the UTF-8 bytes of names, and every check happens in the
 * same order for every call, so the same mistake gets the same errno everywhere.
 *
 * Order of checks for a path: its bytes (wasi-fs.ts: ENAMETOOLONG, EINVAL for NUL, EILSEQ),
 * then the walk (ENOTCAPABLE for an absolute path or a `..` above the root, ENAMETOOLONG for a
 * name over 255 bytes, ENOENT, ENOTDIR), then whether the tree is writable (EROFS in /in), then
 * the operation itself, then the limits (EDQUOT, ENAMETOOLONG, EFBIG, ENOSPC).
 *
 * Here: the trees and what changes them (create, remove, rename, write, resize), the byte and
 * file counts the limits are checked against, and the listings fd_readdir shares. The node types
 * are in memfs-nodes.ts, following paths and measuring them in memfs-paths.ts.
 */
import { compareBytewise } from '../files/paths.ts'
import { ERRNO } from './wasi-defs.ts'
import type { Errno } from './wasi-defs.ts'
import { FileData, type FileBudget } from './file-data.ts'
import { MAX_LISTING_ENTRIES } from './constants.ts'
import { failed } from './memfs-nodes.ts'
import type { DirNode, FileNode, FsInput, FsLimits, Listing, Lookup, Node, ParentLookup, Tree } from './memfs-nodes.ts'
import { childPathBytes, deepestBelow, lookup, lookupParent, reparent } from './memfs-paths.ts'

export { failed } from './memfs-nodes.ts'
export type { DirNode, FileNode, FsInput, FsLimits, Listing, Lookup, Node, ParentLookup, Tree } from './memfs-nodes.ts'

export class MemFs {
  readonly in: Tree
  readonly out: Tree
  readonly limits: FsLimits
  /** Bytes of /out's files, unlinked ones still open included. */
  outBytes = 0
  /** Files and directories listed in /out. */
  outFiles = 0
  /** Names held by live listings (see `Listing`). */
  listingEntries = 0
  /** Resizable buffers /out's files hold now (see FileData). */
  private readonly fileBudget: FileBudget = { resizable: 0 }
  private nextIno = 1n

  /** `inputs` must be valid tree paths (the executor checked them). */
  constructor (inputs: readonly FsInput[], limits: FsLimits) {
    this.limits = limits
    this.in = { name: 'in', readonly: true, root: undefined as unknown as DirNode }
    this.in.root = this.newDir(this.in, null, 0)
    const sorted = [...inputs].sort((a, b) => compareBytewise(a.path, b.path))
    for (const input of sorted) {
      const names = input.path.split('/')
      let dir = this.in.root
      for (const name of names.slice(0, -1)) {
        let next = dir.entries.get(name)
        if (next === undefined) {
          next = this.newDir(this.in, dir, childPathBytes(dir, name))
          dir.entries.set(name, next)
        }
        dir = next as DirNode
      }
      dir.entries.set(names[names.length - 1], { kind: 'file', ino: this.nextIno++, tree: this.in, data: FileData.view(input.bytes), links: 1, open: 0 })
    }
    this.out = { name: 'out', readonly: false, root: undefined as unknown as DirNode }
    this.out.root = this.newDir(this.out, null, 0)
  }

  /** Follows `path` from `base` to what it names (memfs-paths.ts). */
  lookup (base: DirNode, path: string): Lookup<{ node: Node }> {
    return lookup(base, path)
  }

  /** Follows `path` to the directory holding its last name (memfs-paths.ts). */
  lookupParent (base: DirNode, path: string): Lookup<ParentLookup> {
    return lookupParent(base, path)
  }

  /** Creates an empty file `name` in `dir` (which must not list `name`). */
  createFile (dir: DirNode, name: string): Lookup<{ node: FileNode }> {
    const errno = this.checkCreate(dir, name)
    if (errno !== ERRNO.SUCCESS) return { errno }
    const node: FileNode = { kind: 'file', ino: this.nextIno++, tree: dir.tree, data: FileData.empty(this.limits.maxFileBytes, this.fileBudget), links: 1, open: 0 }
    dir.entries.set(name, node)
    this.changed(dir)
    this.outFiles++
    return { node }
  }

  /** Creates directory `name` in `dir` (which must not list `name`). */
  createDir (dir: DirNode, name: string): Errno {
    const errno = this.checkCreate(dir, name)
    if (errno !== ERRNO.SUCCESS) return errno
    dir.entries.set(name, this.newDir(dir.tree, dir, childPathBytes(dir, name)))
    this.changed(dir)
    this.outFiles++
    return ERRNO.SUCCESS
  }

  /** Removes file `name` from `dir`. */
  unlinkFile (dir: DirNode, name: string, node: FileNode): void {
    dir.entries.delete(name)
    this.changed(dir)
    this.outFiles--
    node.links = 0
    this.releaseIfUnused(node)
  }

  /** Removes the empty directory `name` from `dir`. */
  removeDir (dir: DirNode, name: string, node: DirNode): void {
    dir.entries.delete(name)
    this.changed(dir)
    node.removed = true
    this.outFiles--
  }

  /**
   * Moves `from.node` to `to` (same tree, checked by the caller), replacing what `to` names with
   * POSIX's rules: a file replaces a file, a directory replaces an empty directory.
   */
  rename (from: ParentLookup, to: ParentLookup): Errno {
    const source = from.node as Node
    const target = to.node
    if (source === target) return ERRNO.SUCCESS
    if (target !== undefined) {
      if (source.kind === 'file' && target.kind === 'dir') return ERRNO.ISDIR
      if (source.kind === 'dir' && target.kind === 'file') return ERRNO.NOTDIR
      if (target.kind === 'dir' && target.entries.size > 0) return ERRNO.NOTEMPTY
    }
    if (source.kind === 'file' && to.mustBeDir) return ERRNO.NOTDIR
    if (source.kind === 'dir') {
      for (let d: DirNode | null = to.dir; d !== null; d = d.parent) {
        if (d === source) return ERRNO.INVAL // into itself
      }
      const newPathBytes = childPathBytes(to.dir, to.name)
      if (newPathBytes + deepestBelow(source) > this.limits.maxPathBytes) return ERRNO.NAMETOOLONG
      if (to.dir.removed) return ERRNO.NOENT
      reparent(source, to.dir, newPathBytes)
    } else {
      if (childPathBytes(to.dir, to.name) > this.limits.maxPathBytes) return ERRNO.NAMETOOLONG
      if (to.dir.removed) return ERRNO.NOENT
    }
    from.dir.entries.delete(from.name)
    if (target !== undefined) {
      this.outFiles--
      if (target.kind === 'file') {
        target.links = 0
        this.releaseIfUnused(target)
      } else {
        target.removed = true
      }
    }
    to.dir.entries.set(to.name, source)
    this.changed(from.dir)
    this.changed(to.dir)
    return ERRNO.SUCCESS
  }

  /**
   * What writing `length` bytes at `pos` would do, without doing it: how many bytes fit under the
   * caps (a short count, as POSIX does when a disk fills) and how many zero bytes the file would
   * gain before `pos` (a write past the end), or the errno when not one byte fits: EFBIG past the
   * file size cap, ENOSPC past /out's total. Writing several buffers one after the other from
   * `pos` comes to the same as one write of their total length (what the caps leave is the same
   * after each), so a call can be charged its fuel before it writes anything.
   */
  planWrite (file: FileNode, pos: number, length: number): Lookup<{ written: number, zeros: number }> {
    const { maxFileBytes, maxOutBytes } = this.limits
    const size = file.data.size
    const room = maxOutBytes - this.outBytes // bytes the file may still grow by (a gap before `pos` included)
    if (length === 0) return { written: 0, zeros: 0 }
    const end = Math.min(pos + length, maxFileBytes, size + room)
    if (end <= pos) return { errno: pos >= maxFileBytes ? ERRNO.FBIG : ERRNO.NOSPC }
    return { written: end - pos, zeros: Math.max(0, pos - size) }
  }

  /** Writes `bytes` at `pos`: as many as the caps allow, or an errno when not one byte fits (see `planWrite`). */
  write (file: FileNode, pos: number, bytes: Uint8Array): Lookup<{ written: number }> {
    const plan = this.planWrite(file, pos, bytes.byteLength)
    if (failed(plan) || plan.written === 0) return plan
    const size = file.data.size
    const { written } = plan
    try {
      file.data.write(pos, written === bytes.byteLength ? bytes : bytes.subarray(0, written))
    } catch (err) {
      if (err instanceof RangeError) return { errno: ERRNO.NOSPC } // the host could not allocate
      throw err
    }
    this.outBytes += file.data.size - size
    return { written }
  }

  /**
   * Sets a file's size (truncate or extend with zeros), within the caps. `beforeGrow` is told the
   * zero bytes the file is about to gain once the caps allow them, before it changes (the fuel
   * hook: it may throw, and then nothing changed).
   */
  setSize (file: FileNode, size: number, beforeGrow?: (zeros: number) => void): Errno {
    if (size > this.limits.maxFileBytes) return ERRNO.FBIG
    const grow = size - file.data.size
    if (grow > this.limits.maxOutBytes - this.outBytes) return ERRNO.NOSPC
    if (grow > 0) beforeGrow?.(grow)
    try {
      file.data.resize(size)
    } catch (err) {
      if (err instanceof RangeError) return ERRNO.NOSPC
      throw err
    }
    this.outBytes += grow
    return ERRNO.SUCCESS
  }

  /** A descriptor on `file` was closed. */
  closed (file: FileNode): void {
    file.open--
    this.releaseIfUnused(file)
  }

  /** Entries of a directory sorted by the UTF-8 bytes of their names. */
  list (dir: DirNode): Array<[string, Node]> {
    return [...dir.entries].sort((a, b) => compareBytewise(a[0], b[0]))
  }

  /** The directory's current listing for one more reader; undefined when listings hold too many names (ENOMEM). */
  acquireListing (dir: DirNode): Listing | undefined {
    if (dir.listing !== undefined) {
      dir.listing.refs++
      return dir.listing
    }
    if (this.listingEntries + dir.entries.size > MAX_LISTING_ENTRIES) return undefined
    const names = [...dir.entries.keys()].sort(compareBytewise)
    const listing: Listing = { dir, names, encoded: new Array(names.length), refs: 1 }
    this.listingEntries += listing.names.length
    dir.listing = listing
    return listing
  }

  /** A reader is done with a listing (its descriptor closed or restarted at cookie 0). */
  releaseListing (listing: Listing): void {
    listing.refs--
    // the directory's current listing stays cached (and counted) until the directory changes
    if (listing.refs === 0 && listing.dir.listing !== listing) this.listingEntries -= listing.names.length
  }

  /** The files left in /out, sorted by path, each with its path from /out. */
  outFilesSorted (): Array<{ path: string, node: FileNode }> {
    const out: Array<{ path: string, node: FileNode }> = []
    const visit = (dir: DirNode, prefix: string): void => {
      for (const [name, node] of this.list(dir)) {
        const path = prefix === '' ? name : `${prefix}/${name}`
        if (node.kind === 'dir') visit(node, path)
        else out.push({ path, node })
      }
    }
    visit(this.out.root, '')
    // a directory 'a' lists 'a/b' before a file 'a-c' would in byte order of full paths
    return out.sort((a, b) => compareBytewise(a.path, b.path))
  }

  /** A directory's entries changed: its cached listing no longer describes it. */
  private changed (dir: DirNode): void {
    const listing = dir.listing
    if (listing === undefined) return
    dir.listing = undefined
    if (listing.refs === 0) this.listingEntries -= listing.names.length
  }

  /** Path length (bytes) and size of every file in /out, in no particular order. */
  * outFileSizes (): Generator<{ pathBytes: number, size: number }> {
    const stack = [this.out.root]
    for (let dir = stack.pop(); dir !== undefined; dir = stack.pop()) {
      for (const [name, node] of dir.entries) {
        if (node.kind === 'dir') stack.push(node)
        else yield { pathBytes: childPathBytes(dir, name), size: node.data.size }
      }
    }
  }

  private checkCreate (dir: DirNode, name: string): Errno {
    if (dir.removed) return ERRNO.NOENT
    if (this.outFiles >= this.limits.maxOutFiles) return ERRNO.DQUOT
    if (childPathBytes(dir, name) > this.limits.maxPathBytes) return ERRNO.NAMETOOLONG
    return ERRNO.SUCCESS
  }

  private releaseIfUnused (file: FileNode): void {
    if (file.links === 0 && file.open === 0 && file.tree === this.out) {
      this.outBytes -= file.data.size
      file.data.release()
      file.data = FileData.empty(0)
    }
  }

  private newDir (tree: Tree, parent: DirNode | null, pathBytes: number): DirNode {
    return { kind: 'dir', ino: this.nextIno++, tree, parent, entries: new Map(), pathBytes, removed: false }
  }
}
