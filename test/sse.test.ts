/**
 * Event streams of small events (job progress, tips, peers) drop a client that stops reading
 * instead of buffering for it without bound.
 */
import { describe, it, expect } from 'vitest'
import type { ServerResponse } from 'node:http'
import { MAX_SSE_BUFFER_BYTES, sseWrite } from '../src/node/api/sse.ts'

function fakeResponse (): { raw: ServerResponse, written: string[], destroyed: () => boolean } {
  const written: string[] = []
  const state = { destroyed: false, writableLength: 0 }
  const raw = {
    get destroyed () { return state.destroyed },
    get writableLength () { return state.writableLength },
    // A client that never reads: everything written waits.
    write (chunk: string) { written.push(chunk); state.writableLength += Buffer.byteLength(chunk); return false },
    destroy () { state.destroyed = true }
  } as unknown as ServerResponse
  return { raw, written, destroyed: () => state.destroyed }
}

describe('sseWrite', () => {
  it('writes while the client keeps up; a client MAX_SSE_BUFFER_BYTES behind is dropped, and nothing more is written', () => {
    const { raw, written, destroyed } = fakeResponse()
    const event = `event: progress\ndata: ${'x'.repeat(1000)}\n\n`
    let n = 0
    while (!destroyed() && n < 10_000) { sseWrite(raw, event); n++ }
    expect(destroyed()).toBe(true)
    const bytes = written.reduce((sum, c) => sum + Buffer.byteLength(c), 0)
    expect(bytes).toBeGreaterThan(MAX_SSE_BUFFER_BYTES)
    expect(bytes).toBeLessThan(MAX_SSE_BUFFER_BYTES + 2 * Buffer.byteLength(event))
    const before = written.length
    sseWrite(raw, event)
    expect(written).toHaveLength(before)
  })
})
