/**
 * The framing read beside the multipart parser (src/node/api/upload-framing.ts), against the
 * parser itself (@fastify/busboy, as @fastify/multipart runs it): for every body below, cut into
 * chunks at random, either the framing refuses it or it saw exactly the parts the parser handed
 * over, with their filenames; and every part the parser drops is refused (review finding 1: a part
 * whose filename had a line break vanished from the upload without a word). @fastify/busboy is
 * the parser @fastify/multipart runs (installed with it).
 */
import { describe, it, expect } from 'vitest'
import { Busboy, type BusboyInstance } from '@fastify/busboy'
import { UploadFraming, type PartHeader } from '../src/node/api/upload-framing.ts'

const B = 'XbX'
const LIMITS = { headerSize: 16 * 1024, headerPairs: 32 }

interface Parsed { parts: Array<{ name: string, filename?: string }>, error?: string }

/** What busboy hands over of `body`, fed in `chunks`. */
function busboy (contentType: string, chunks: Buffer[]): Promise<Parsed> {
  return new Promise((resolve) => {
    const parts: Parsed['parts'] = []
    let bb: BusboyInstance
    try {
      bb = new Busboy({ headers: { 'content-type': contentType }, preservePath: true, limits: LIMITS })
    } catch (err) {
      resolve({ parts, error: (err as Error).message })
      return
    }
    bb.on('file', (name: string, file: NodeJS.ReadableStream, filename: string) => { parts.push({ name, filename }); file.resume() })
    bb.on('field', (name: string) => { parts.push({ name }) })
    bb.on('error', (err: Error) => { resolve({ parts, error: err.message }) })
    bb.on('finish', () => { resolve({ parts }) })
    for (const c of chunks) bb.write(c)
    bb.end()
  })
}

/** `body` cut at random places (seeded). */
function cut (body: Buffer, seed: number): Buffer[] {
  let x = seed
  const random = (): number => { x = (x * 1103515245 + 12345) % 2147483648; return x / 2147483648 }
  const chunks: Buffer[] = []
  for (let at = 0; at < body.byteLength;) {
    const n = seed === 0 ? body.byteLength : 1 + Math.floor(random() * (seed % 3 === 0 ? 3 : 40))
    chunks.push(body.subarray(at, at + n))
    at += n
  }
  return chunks
}

const part = (disposition: string, body = 'v', extra = ''): string => `--${B}\r\n${disposition}${extra}\r\n\r\n${body}\r\n`
const end = `--${B}--\r\n`

/** [what, whether the parser drops a part of it (so the framing refuses it), body, Content-Type] */
const bodies: Array<[string, boolean, string, string?]> = [
  ['plain parts', false, part('content-disposition: form-data; name="spec"') + part('content-disposition: form-data; name="in"; filename="a/b.txt"', 'x', '\r\ncontent-type: application/octet-stream') + end],
  ['filename* percent-encoded', false, part("content-disposition: form-data; name=\"in\"; filename*=UTF-8''caf%C3%A9%20x.txt") + end],
  ['a line break in filename*', true, part("content-disposition: form-data; name=\"in\"; filename*=UTF-8''good.txt") + part("content-disposition: form-data; name=\"in\"; filename*=UTF-8''bad%0Aname.txt") + end],
  ['a CR in filename*', true, part("Content-Disposition: form-data; name=\"input\"; filename*=utf-8''x%0dy") + end],
  ['a line break in name', true, part("content-disposition: form-data; name*=UTF-8''i%0An") + end],
  ['a bare LF inside the header line', true, part('content-disposition: form-data; name="in"; filename="a\nb"') + end],
  ['a bare CR before the disposition', true, part('x-note: a\rb\r\ncontent-disposition: form-data; name="in"; filename="a"') + end],
  ['no disposition', true, part('content-type: text/plain') + end],
  ['no header at all', true, `--${B}\r\n\r\nbody\r\n` + end],
  ['not form-data', true, part('content-disposition: attachment; name="in"; filename="a"') + end],
  ['transport padding after the delimiter', true, `--${B}  \r\ncontent-disposition: form-data; name="spec"\r\n\r\n{}\r\n` + end],
  ['a lone dash after the delimiter', true, `--${B}-\r\ncontent-disposition: form-data; name="spec"\r\n\r\n{}\r\n` + end],
  ['a header cut by the next delimiter', true, `--${B}\r\ncontent-disposition: form-data; name="spec"\r\n--${B}\r\ncontent-disposition: form-data; name="x"\r\n\r\nv\r\n` + end],
  ['a folded disposition', false, part('content-disposition: form-data;\r\n name="in";\r\n\tfilename="f"') + end],
  ['delimiter look-alikes in a body', false, part('content-disposition: form-data; name="in"; filename="a"', `\r\n--${B.slice(0, 2)}\r\n-\r\n--X\r\n`) + end],
  ['a preamble and an epilogue', false, `preamble\r\n${part('content-disposition: form-data; name="spec"')}${end}epilogue\r\n--${B}\r\n`],
  ['both filename and filename*', false, part("content-disposition: form-data; name=\"in\"; filename=\"plain\"; filename*=UTF-8''star%0A") + end],
  ['filename* then filename', true, part("content-disposition: form-data; name=\"in\"; filename*=UTF-8''st%0Aar; filename=\"plain\"") + end],
  ['quoted escapes', false, part('content-disposition: form-data; name="in"; filename="a\\"b\\\\c\\d"; x=1') + end],
  ['a latin1 charset', false, part("content-disposition: form-data; name=\"in\"; filename*=iso-8859-1''caf%E9") + end],
  ['a UTF-16 charset with a line break', true, part("content-disposition: form-data; name=\"in\"; filename*=utf-16le''a%00%0A%00") + end],
  ['U+FFFD sent, and bytes that are not UTF-8', false, part("content-disposition: form-data; name=\"in\"; filename*=UTF-8''%EF%BF%BD.txt") + part("content-disposition: form-data; name=\"in\"; filename*=UTF-8''%FF.txt") + end],
  ['the header over headerSize', true, part(`x-pad: ${'p'.repeat(20_000)}\r\ncontent-disposition: form-data; name="spec"`) + end],
  ['the disposition past headerPairs', true, part(`${Array.from({ length: 32 }, (_, i) => `x-${i}: 1`).join('\r\n')}\r\ncontent-disposition: form-data; name="spec"`) + end],
  ['no closing delimiter', false, part('content-disposition: form-data; name="spec"')],
  ['an empty body', false, ''],
  ['a quoted boundary', false, part('content-disposition: form-data; name="spec"') + end, `multipart/form-data; boundary="${B}"`],
  ['a boundary with a blank', false, part('content-disposition: form-data; name="spec"') + end, `multipart/form-data; boundary = ${B} ; charset=x`]
]

describe('the framing beside the parser', () => {
  for (const [what, drops, text, contentType] of bodies) {
    it(what, async () => {
      const body = Buffer.from(text, 'latin1')
      const type = contentType ?? `multipart/form-data; boundary=${B}`
      for (const seed of [0, 1, 2, 3, 7, 12, 99]) {
        const chunks = cut(body, seed)
        const parsed = await busboy(type, chunks)
        const framing = UploadFraming.of(type, LIMITS)
        expect(framing, what).toBeDefined()
        for (const c of chunks) framing?.push(c)
        const seen: PartHeader[] = []
        for (let h = framing?.next(); h != null; h = framing?.next()) seen.push(h)
        expect(framing?.refusal != null, `${what} (seed ${seed})`).toBe(drops)
        if (drops) {
          // The parser did drop a part: it handed over fewer than the body opens.
          const opened = `\r\n${text}`.split(`\r\n--${B}`).slice(1).filter((rest) => !rest.startsWith('--')).length
          expect(parsed.parts.length, `${what} (seed ${seed})`).toBeLessThan(opened)
          continue
        }
        // Not refused: the parser handed over every part (or failed the upload itself), with the filenames sent.
        if (parsed.error == null) expect(parsed.parts.length, `${what} (seed ${seed})`).toBe(framing?.parts)
        expect(seen.length, `${what} (seed ${seed})`).toBe(parsed.parts.length)
        parsed.parts.forEach((p, i) => {
          const sent = seen[i].filename
          if (p.filename != null && sent != null) expect(sent === p.filename || p.filename.includes('\uFFFD'), `${what}: ${sent} / ${p.filename}`).toBe(true)
        })
      }
    })
  }

  it('refuses what the parser would drop, with the code and a message saying why', () => {
    const refusal = (text: string): unknown => {
      const framing = UploadFraming.of(`multipart/form-data; boundary=${B}`, LIMITS)
      framing?.push(Buffer.from(text, 'latin1'))
      return framing?.refusal
    }
    expect(refusal(part("content-disposition: form-data; name=\"in\"; filename*=UTF-8''bad%0Aname.txt") + end)).toEqual({
      code: 'ERR_INVALID_PATH', message: 'the `in` part: its filename has a line break (CR or LF): "bad\\nname.txt"; the multipart parser would drop the part'
    })
    expect(refusal(part('content-type: text/plain') + end)).toMatchObject({ code: 'ERR_MALFORMED_UPLOAD', message: /^part 1 has no Content-Disposition header/ })
    expect(refusal(part("content-disposition: form-data; name*=UTF-8''i%0An") + end)).toMatchObject({ code: 'ERR_MALFORMED_UPLOAD', message: /name has a line break/ })
    expect(refusal(part('content-disposition: form-data; name="spec"') + end)).toBeUndefined()
  })

  it('tells a U+FFFD that was sent from one that stands for bytes that are not UTF-8', () => {
    const framing = UploadFraming.of(`multipart/form-data; boundary=${B}`, LIMITS)
    framing?.push(Buffer.from(
      part("content-disposition: form-data; name=\"in\"; filename*=UTF-8''%EF%BF%BD.txt") + part("content-disposition: form-data; name=\"in\"; filename*=UTF-8''%FF.txt") +
      part('content-disposition: form-data; name="in"; filename="\xEF\xBF\xBD-raw"') + part('content-disposition: form-data; name="in"; filename="\xC3(-raw"') +
      part("content-disposition: form-data; name=\"in\"; filename*=utf-16le''a%00") + part('content-disposition: form-data; name="spec"') + end, 'latin1'))
    expect([1, 2, 3, 4, 5, 6].map(() => framing?.next())).toEqual([
      { filename: '\uFFFD.txt' }, { filename: null }, { filename: '\uFFFD-raw' }, { filename: null }, { filename: undefined }, {}
    ])
    expect(framing?.parts).toBe(6)
  })
})
