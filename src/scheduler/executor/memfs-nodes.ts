/**
 * What the sandbox file system (memfs.ts) is made of: its limits, its two trees, the file and
 * directory nodes in them, the listings fd_readdir shares, and the result shape of a lookup (a
 * node, or the errno that stopped it). Types, and `failed` to tell those two apart; memfs.ts
 * re-exports them all, so the WASI calls keep importing them from there.
 */
import type { Errno } from './wasi-defs.ts'
import type { FileData } from './file-data.ts'

/** Limits of the sandbox file system (see `ExecutorInit` for their defaults). */
export interface FsLimits {
  /** Total bytes of the files in /out (ENOSPC past it). */
  maxOutBytes: number
  /** Files and directories in /out (EDQUOT past it). */
  maxOutFiles: number
  /** Size of one file (EFBIG past it). */
  maxFileBytes: number
  /** Longest path, UTF-8 bytes: a path argument, and the path of anything created, from its tree's root (ENAMETOOLONG). */
  maxPathBytes: number
  /** Descriptors open at once, stdio and the two preopens included (EMFILE past it). */
  maxOpenFds: number
}

export interface Tree {
  /** 'in' or 'out': the preopen's name without its '/'. */
  name: string
  readonly: boolean
  root: DirNode
}

export interface FileNode {
  kind: 'file'
  ino: bigint
  tree: Tree
  data: FileData
  /** 1 while a directory lists it, 0 once unlinked or replaced. */
  links: number
  /** Descriptors open on it; its bytes are released when this and `links` are both 0. */
  open: number
}

export interface DirNode {
  kind: 'dir'
  ino: bigint
  tree: Tree
  /** null for a tree's root: `..` there is ENOTCAPABLE. */
  parent: DirNode | null
  entries: Map<string, Node>
  /** UTF-8 bytes of its path from the tree's root (0 for the root). */
  pathBytes: number
  removed: boolean
  /** The sorted names as fd_readdir last listed them, while the directory has not changed since. */
  listing?: Listing
}

/**
 * The names of a directory in listing order, shared by the descriptors reading it. Listings are
 * counted against `MAX_LISTING_ENTRIES` while a descriptor or the directory holds them, so a job
 * cannot fill the worker's heap with them (ENOMEM past it).
 */
export interface Listing {
  dir: DirNode
  names: string[]
  /** `names` as UTF-8, each encoded when fd_readdir first reaches it. */
  encoded: Array<Uint8Array | undefined>
  /** Descriptors reading it. */
  refs: number
}

export type Node = FileNode | DirNode

/** Where a path leads when the last name is to be created, removed or renamed. */
export interface ParentLookup {
  dir: DirNode
  name: string
  /** What `name` names now, if anything. */
  node?: Node
  /** The path ended in '/': it must name a directory. */
  mustBeDir: boolean
  /** The last name is '.' or '..' (it names a directory, but not one that can be created or removed by that name). */
  dotName: boolean
}

/** What a lookup or an operation found, or the errno that stopped it. */
export type Lookup<T> = { errno: Errno } | T

/** Whether a `Lookup` is the errno. */
export function failed<T extends object> (result: Lookup<T>): result is { errno: Errno } {
  return 'errno' in result
}

/** An input file: where it goes under /in and its bytes (not copied). */
export interface FsInput {
  path: string
  bytes: Uint8Array
}
