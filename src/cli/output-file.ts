/**
 * `-o FILE` checked before anything is sent or fetched: a job's output must not be paid for and
 * then fail to land because the path cannot be a file.
 */
import { access, constants, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { UsageError } from './errors.ts'

/** Throws a one-line `UsageError` unless FILE can be written: its directory exists, FILE is not a directory. */
export async function checkOutputFile (file: string, flag = '-o'): Promise<void> {
  const path = resolve(file)
  const parent = dirname(path)
  let target
  try {
    target = await stat(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UsageError(`${flag} ${file}: cannot check it: ${code ?? (err as Error).message}`)
  }
  if (target?.isDirectory() === true) throw new UsageError(`${flag} ${file} is a directory; give a file path`)
  let dir
  try {
    dir = await stat(parent)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new UsageError(`${flag} ${file}: its directory ${parent} does not exist`)
    if (code === 'ENOTDIR') throw new UsageError(`${flag} ${file}: its parent ${parent} is not a directory`)
    throw new UsageError(`${flag} ${file}: cannot check its directory ${parent}: ${code ?? (err as Error).message}`)
  }
  if (!dir.isDirectory()) throw new UsageError(`${flag} ${file}: its parent ${parent} is not a directory`)
  try {
    await access(target != null ? path : parent, constants.W_OK)
  } catch {
    throw new UsageError(target != null ? `${flag} ${file} is not writable` : `${flag} ${file}: its directory ${parent} is not writable`)
  }
}
