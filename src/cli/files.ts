/**
 * Files of jobs on the command line: `--in PATH` (a file or a directory tree, at
 * `/in/<basename of PATH>`) scanned into upload parts, and `--out DIR` (the files a job or a task
 * left in /out, downloaded one at a time, each checked against its CID, written under DIR at the
 * same paths, never outside it). Scanning and writing are the library's (src/scheduler/files/disk.ts).
 */
import { DepinError } from '../errors.ts'
import { MAX_MANIFEST_BYTES, MAX_MANIFEST_ENTRIES, MAX_NAME_BYTES, MAX_PATH_BYTES } from '../scheduler/files/constants.ts'
import { scanInputs, writeOutputTree } from '../scheduler/files/disk.ts'
import { encodedManifestBytes } from '../scheduler/files/manifest.ts'
import { rawCid } from '../proofs/encoding.ts'
import { MAX_INPUT_FILES_BYTES } from '../scheduler/task.ts'
import type { OutputFileInfo } from '../scheduler/requester/trees.ts'
import { assertOk, type ApiClient } from './client.ts'
import { LocalCheckError } from './errors.ts'
import { fileInTheWay } from './path-in-the-way.ts'
import { join, resolve } from 'node:path'
import { checkSendableName, type FormPart } from './multipart.ts'
import type { Written } from './files-text.ts'

/** The `in` parts of an upload and what the spec declares of them. */
export interface InputTreeUpload {
  parts: FormPart[]
  files: number
  bytes: number
}

/** Re-raises a library error with the flag it came from, keeping its code. */
function flagged (flag: string, err: unknown): unknown {
  if (err instanceof DepinError) return new DepinError(`${flag}: ${err.message}`, err.code, { cause: err })
  return err
}

/**
 * Scans `--in` paths into upload parts (each file's path in the tree is its part's filename).
 * Throws, naming `--in`, for a missing path, a symlink loop or escape, a FIFO or device, two
 * inputs of the same name, a name a path cannot have (or that is not UTF-8 on disk), more than
 * MAX_MANIFEST_ENTRIES files (or directories walked), more than MAX_INPUT_FILES_BYTES, or a
 * manifest over MAX_MANIFEST_BYTES; nothing is uploaded then.
 */
export async function scanInParts (paths: readonly string[]): Promise<InputTreeUpload> {
  let files
  try {
    files = await scanInputs(paths, { maxEntries: MAX_MANIFEST_ENTRIES })
  } catch (err) {
    throw flagged('--in', err)
  }
  let bytes = 0
  const parts: FormPart[] = []
  for (const f of files) {
    checkSendableName(f.path, '--in: file')
    bytes += f.size
    parts.push({ name: 'in', filename: f.path, path: f.source, size: f.size })
  }
  if (bytes > MAX_INPUT_FILES_BYTES) {
    throw new LocalCheckError(`--in: the input files hold ${bytes} bytes; the limit is ${MAX_INPUT_FILES_BYTES} (1 GiB) in all; nothing was uploaded`)
  }
  // The daemon would refuse it too, but only once the whole upload has been sent.
  const manifestBytes = encodedManifestBytes(files.map((f) => ({ pathBytes: Buffer.byteLength(f.path), size: f.size })))
  if (manifestBytes > MAX_MANIFEST_BYTES) {
    throw new LocalCheckError(`--in: the input files' manifest would be ${manifestBytes} bytes, over the limit of ${MAX_MANIFEST_BYTES} (16 MiB): too many files, or too long paths; nothing was uploaded`)
  }
  return { parts, files: files.length, bytes }
}

/**
 * Creates DIR if missing and checks it can be written, before anything is submitted. Throws,
 * naming `--out`, `OutputNotDirectoryError` (a file, or a path under one) or `OutputNotWritableError`.
 */
export async function prepareOutDir (dir: string): Promise<void> {
  // A file above DIR: say which (the library's message names DIR as if it were the file).
  const inTheWay = await fileInTheWay(dir)
  if (inTheWay != null && inTheWay !== resolve(dir)) throw new LocalCheckError(`--out ${dir}: its parent ${inTheWay} is not a directory`)
  try {
    await writeOutputTree(dir, [])
  } catch (err) {
    throw flagged('--out', err)
  }
}

/** A downloaded file's bytes are not what its CID says. */
export class DownloadMismatchError extends DepinError {
  constructor (path: string, cid: string) {
    super(`the bytes received for ${JSON.stringify(path)} do not match its CID ${cid}; nothing more was written`, 'ERR_DOWNLOAD_MISMATCH')
  }
}

/** `a b/c"d` → `a%20b/c%22d`: each segment of a tree path encoded for a URL. */
export function encodePath (path: string): string {
  return path.split('/').map(encodeURIComponent).join('/')
}

/**
 * Downloads `files` from `<base>/files/<path>` (base: `/v1/jobs/ID` or
 * `/v1/batches/ID/tasks/I`) into `dir`, one at a time (one file in memory at once); with
 * `under`, into `dir/<under>/`, where `under` (a name) is created inside `dir` like the files'
 * own directories: a symlink there is refused, not followed.
 */
export async function downloadFiles (client: ApiClient, base: string, files: readonly OutputFileInfo[], dir: string, under?: string): Promise<Written> {
  let bytes = 0
  await prepareOutDir(dir)
  // A tree path may be MAX_PATH_BYTES long on its own: `under/` comes on top of it.
  const limits = under != null ? { maxPathBytes: MAX_PATH_BYTES + MAX_NAME_BYTES + 1 } : {}
  for (const file of files) {
    const response = await client.request(`${base}/files/${encodePath(file.path)}`)
    await assertOk(response)
    const body = await response.bytes()
    if (body.byteLength !== file.size || rawCid(body).toString() !== file.cid) throw new DownloadMismatchError(file.path, file.cid)
    try {
      await writeOutputTree(dir, [{ path: under != null ? `${under}/${file.path}` : file.path, bytes: body }], limits)
    } catch (err) {
      throw flagged('--out', err)
    }
    bytes += body.byteLength
  }
  return { dir: under != null ? join(dir, under) : dir, files: files.length, bytes }
}
