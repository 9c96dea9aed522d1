/**
 * Which part of a path is a file where a directory is needed: ENOTDIR and EEXIST from mkdir or
 * readdir name the whole path, which leaves the user guessing which component is wrong.
 */
import { stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'

/** The nearest existing ancestor of `path` (or `path` itself) that is not a directory, if any. */
export async function fileInTheWay (path: string): Promise<string | undefined> {
  let current = resolve(path)
  for (;;) {
    const info = await stat(current).catch((err: NodeJS.ErrnoException) => err.code === 'ENOENT' || err.code === 'ENOTDIR' ? undefined : Promise.reject(err))
    if (info != null) return info.isDirectory() ? undefined : current
    const parent = dirname(current)
    if (parent === current) return undefined
    current = parent
  }
}

/** `X is a file, not a directory` or `its parent X is not a directory`, for `path`; undefined when nothing is in the way. */
export async function notADirectoryText (path: string): Promise<string | undefined> {
  const file = await fileInTheWay(path)
  if (file == null) return undefined
  return file === resolve(path) ? `${path} is a file, not a directory` : `${path}: its parent ${file} is not a directory`
}
