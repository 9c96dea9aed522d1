/**
 * Paths in the sandbox file system: following a path from a directory (relative only, `..`
 * stopping at its tree's root with ENOTCAPABLE, names over 255 bytes ENAMETOOLONG), and the
 * path-length arithmetic the `maxPathBytes` limit is checked with (each directory knows the
 * UTF-8 length of its path from its tree's root; a moved directory shifts its whole subtree).
 * The order of the checks is in memfs.ts.
 */
import { MAX_NAME_BYTES } from '../files/constants.ts'
import { ERRNO } from './wasi-defs.ts'
import { failed } from './memfs-nodes.ts'
import type { DirNode, Lookup, Node, ParentLookup } from './memfs-nodes.ts'

/** Follows `path` from `base` to what it names. */
export function lookup (base: DirNode, path: string): Lookup<{ node: Node }> {
  if (path === '') return { errno: ERRNO.NOENT }
  if (path.startsWith('/')) return { errno: ERRNO.NOTCAPABLE }
  const names = path.split('/')
  let node: Node = base
  for (let i = 0; i < names.length; i++) {
    const name = names[i]
    if (node.kind !== 'dir') return { errno: ERRNO.NOTDIR } // 'file/x', 'file/', 'file/.'
    if (name === '' || name === '.') continue
    if (name === '..') {
      if (node.parent === null) return { errno: ERRNO.NOTCAPABLE }
      node = node.parent
      continue
    }
    if (nameTooLong(name)) return { errno: ERRNO.NAMETOOLONG }
    const next: Node | undefined = node.entries.get(name)
    if (next === undefined) return { errno: ERRNO.NOENT }
    node = next
  }
  return { node }
}

/** Follows `path` to the directory holding its last name. */
export function lookupParent (base: DirNode, path: string): Lookup<ParentLookup> {
  if (path === '') return { errno: ERRNO.NOENT }
  if (path.startsWith('/')) return { errno: ERRNO.NOTCAPABLE }
  let end = path.length
  while (end > 0 && path[end - 1] === '/') end--
  const mustBeDir = end < path.length
  const trimmed = path.slice(0, end)
  const slash = trimmed.lastIndexOf('/')
  const name = trimmed.slice(slash + 1)
  const found = slash < 0 ? { node: base as Node } : lookup(base, trimmed.slice(0, slash + 1))
  if (failed(found)) return found
  const dir = found.node
  if (dir.kind !== 'dir') return { errno: ERRNO.NOTDIR }
  if (name === '.' || name === '..') {
    if (name === '..' && dir.parent === null) return { errno: ERRNO.NOTCAPABLE }
    return { dir, name, node: name === '.' ? dir : dir.parent as DirNode, mustBeDir: true, dotName: true }
  }
  if (nameTooLong(name)) return { errno: ERRNO.NAMETOOLONG }
  return { dir, name, node: dir.entries.get(name), mustBeDir, dotName: false }
}

function nameTooLong (name: string): boolean {
  return name.length > MAX_NAME_BYTES || (name.length > MAX_NAME_BYTES / 3 && Buffer.byteLength(name) > MAX_NAME_BYTES)
}

/** UTF-8 bytes of the path of `name` in `dir`, from the tree's root. */
export function childPathBytes (dir: DirNode, name: string): number {
  return (dir.pathBytes === 0 ? 0 : dir.pathBytes + 1) + Buffer.byteLength(name)
}

/** Longest path below a directory, relative to it ('/' + names), bytes. */
export function deepestBelow (dir: DirNode): number {
  let deepest = 0
  for (const [name, node] of dir.entries) {
    const here = 1 + Buffer.byteLength(name) + (node.kind === 'dir' ? deepestBelow(node) : 0)
    if (here > deepest) deepest = here
  }
  return deepest
}

/** Moves `dir` under `parent`, where its path is `pathBytes` long; its subdirectories' lengths follow. */
export function reparent (dir: DirNode, parent: DirNode, pathBytes: number): void {
  dir.parent = parent
  const shift = pathBytes - dir.pathBytes
  const visit = (d: DirNode): void => {
    d.pathBytes += shift
    for (const node of d.entries.values()) if (node.kind === 'dir') visit(node)
  }
  visit(dir)
}
