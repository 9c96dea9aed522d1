/**
 * Serving the files a job or a batch task left in /out:
 *   GET …/files        {"files":[{path,size,cid}],"filesCid"}: the list, in manifest order
 *   GET …/files/<path> the file's bytes (application/octet-stream, `X-Depin-Cid`: its CID)
 * A path is checked against the path rules before it is looked up (400 ERR_INVALID_PATH); a
 * path the job did not leave is 404 ERR_FILE_NOT_FOUND.
 */
import type { FastifyReply } from 'fastify'
import { InvalidPathError } from '../../scheduler/files/errors.ts'
import { validatePath } from '../../scheduler/files/paths.ts'
import type { BlobStore } from '../../scheduler/blob-store.ts'
import { outputFileList, type OutputFileInfo } from '../../scheduler/requester/trees.ts'
import { ApiError } from './errors.ts'

/** The file path of a `…/files/*` route (already URL-decoded by the router), checked. */
export function filePathParam (params: unknown): string {
  const raw = (params as Record<string, unknown>)['*']
  try {
    validatePath(raw)
  } catch (err) {
    if (err instanceof InvalidPathError) throw new ApiError(400, err.code, err.message)
    throw err
  }
  return raw
}

export interface FileListView {
  files: OutputFileInfo[]
  /** CID of the output manifest (absent when the run left no files). */
  filesCid?: string
}

/**
 * The output files of something that ran (`outputCid` set): its list, or `{files: []}` when it
 * left none. 409 ERR_NO_OUTPUT when it has not run (`notRun` says why), 410 ERR_OUTPUT_GONE when
 * its manifest is no longer kept.
 */
export async function fileList (blobs: BlobStore, what: { outputCid?: string, filesCid?: string }, notRun: () => Promise<string> | string): Promise<FileListView> {
  if (what.filesCid != null) {
    const files = await outputFileList(blobs, what.filesCid)
    if (files == null) throw new ApiError(410, 'ERR_OUTPUT_GONE', 'the output files are no longer kept')
    return { files, filesCid: what.filesCid }
  }
  if (what.outputCid != null) return { files: [] }
  throw new ApiError(409, 'ERR_NO_OUTPUT', await notRun())
}

export async function sendFile (reply: FastifyReply, file: { info: OutputFileInfo, bytes: Uint8Array }): Promise<FastifyReply> {
  return await reply.type('application/octet-stream').header('x-depin-cid', file.info.cid)
    .send(Buffer.from(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength))
}
