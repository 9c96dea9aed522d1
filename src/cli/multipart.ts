/**
 * A multipart/form-data body streamed from files on disk, with its exact length known before the
 * first byte is sent (the daemon refuses an oversized upload on its Content-Length alone).
 *
 * File names go in RFC 5987 form (`filename*=UTF-8''…`): an `in` part's filename is a path in the
 * job's tree, and every character of it must arrive as it is (fetch's FormData would turn `"` into
 * `%22`). A line break cannot be sent (busboy drops such parts): `checkSendableName` refuses it.
 */
import { createReadStream } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { LocalCheckError } from './errors.ts'

export type FormPart =
  /** A text field. */
  | { name: string, value: string }
  /** A file on disk, streamed; `size` is what it must have (checked while it is read). */
  | { name: string, filename: string, path: string, size: number }
  /** Bytes in memory. */
  | { name: string, filename: string, bytes: Uint8Array }

/** A file part (on disk or in memory). */
export type FilePart = Extract<FormPart, { filename: string }>

/** A part's length in the body, bytes. */
export function partSize (part: FormPart): number {
  return 'value' in part ? Buffer.byteLength(part.value) : 'bytes' in part ? part.bytes.byteLength : part.size
}

export interface MultipartBody {
  contentType: string
  /** Exact length of the body, bytes. */
  length: number
  /** The body's bytes, in order (read once). */
  chunks: () => AsyncGenerator<Uint8Array>
}

/** Percent-encodes every byte RFC 5987 does not allow as it is (encodeURIComponent leaves `'()*`). */
function encodeExtValue (text: string): string {
  return encodeURIComponent(text).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** Throws LocalCheckError for a name a multipart header cannot carry (a line break). */
export function checkSendableName (name: string, what: string): void {
  if (/[\r\n]/.test(name)) throw new LocalCheckError(`${what} ${JSON.stringify(name)} has a line break in its name, which an upload cannot carry; rename it (nothing was uploaded)`)
}

function partHeader (boundary: string, part: FormPart): Buffer {
  const disposition = 'filename' in part
    ? `form-data; name="${part.name}"; filename*=UTF-8''${encodeExtValue(part.filename)}\r\ncontent-type: application/octet-stream`
    : `form-data; name="${part.name}"`
  return Buffer.from(`--${boundary}\r\ncontent-disposition: ${disposition}\r\n\r\n`)
}

/** Builds the body of `parts`; field names must be plain ASCII words (they are not escaped). */
export function multipartBody (parts: readonly FormPart[]): MultipartBody {
  const boundary = `depin-${randomBytes(16).toString('hex')}`
  const closing = Buffer.from(`--${boundary}--\r\n`)
  const crlf = Buffer.from('\r\n')
  let length = closing.byteLength
  for (const part of parts) length += partHeader(boundary, part).byteLength + partSize(part) + crlf.byteLength
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length,
    chunks: async function * () {
      for (const part of parts) {
        yield partHeader(boundary, part)
        if ('value' in part) {
          yield Buffer.from(part.value)
        } else if ('bytes' in part) {
          yield part.bytes
        } else if (part.size > 0) {
          let read = 0
          // Never more than the size announced in Content-Length, even if the file grew since.
          for await (const chunk of createReadStream(part.path, { start: 0, end: part.size - 1 })) {
            read += (chunk as Buffer).byteLength
            yield chunk as Buffer
          }
          if (read !== part.size) throw new LocalCheckError(`${part.path} changed while it was uploaded (${part.size} bytes when scanned, ${read} read); the upload was abandoned`)
        }
        yield crlf
      }
      yield closing
    }
  }
}
