/**
 * Who answers Ctrl-C (SIGTERM, SIGHUP) in a command that hands over from one stage to the next
 * (`map`: the upload, then following the batch; `submit --wait`: the upload, then following the
 * job). Holders stack: the newest one speaks, and a stage takes the signals before the last one
 * lets go of them, so there is no moment in which a signal takes Node's default and kills the
 * command without a word (a `map` interrupted right after printing its batch id ended by SIGINT,
 * not with 130 and where its batch went on). The signals are emitted on `process` here, with
 * `process.exit` stubbed; cli-ops sends real ones to real commands.
 */
import { afterEach, beforeEach, describe, it, expect, vi } from 'vitest'
import { onInterrupt, STOP_SIGNALS } from '../src/cli/interrupt.ts'

describe('onInterrupt', () => {
  let exits: number[]
  let before: Record<string, number>

  beforeEach(() => {
    exits = []
    vi.spyOn(process, 'exit').mockImplementation(((code?: number) => { exits.push(code ?? 0) }) as typeof process.exit)
    before = Object.fromEntries(STOP_SIGNALS.map((s) => [s, process.listenerCount(s)]))
  })

  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('the newest holder speaks, and exits as shells report the signal (130, 143, 129)', () => {
    const said: string[] = []
    const releaseUpload = onInterrupt(() => { said.push('upload') })
    const releaseFollow = onInterrupt(() => { said.push('follow') })
    process.emit('SIGINT', 'SIGINT')
    process.emit('SIGTERM', 'SIGTERM')
    process.emit('SIGHUP', 'SIGHUP')
    expect(said).toEqual(['follow', 'follow', 'follow'])
    expect(exits).toEqual([130, 143, 129])
    releaseFollow()
    releaseUpload()
  })

  it('a stage that takes the signals before the last lets go leaves no gap; releasing the newest hands back to the one under it', () => {
    const said: string[] = []
    const releaseUpload = onInterrupt(() => { said.push('upload') })
    // following takes over, then the upload lets go (map's order)
    const releaseFollow = onInterrupt(() => { said.push('follow') })
    releaseUpload()
    for (const s of STOP_SIGNALS) expect(process.listenerCount(s)).toBe(before[s] + 1)
    process.emit('SIGINT', 'SIGINT')
    expect(said).toEqual(['follow'])

    // the other way round: the newest lets go first, the older one speaks again
    const releaseOuter = onInterrupt(() => { said.push('outer') })
    const releaseInner = onInterrupt(() => { said.push('inner') })
    releaseInner()
    process.emit('SIGINT', 'SIGINT')
    expect(said).toEqual(['follow', 'outer'])
    releaseOuter()
    releaseFollow()
  })

  it('once every holder let go, the process has no listener of its own left (the signals\' defaults again); a release twice is harmless', () => {
    const release1 = onInterrupt(() => {})
    const release2 = onInterrupt(() => {})
    release1()
    release1()
    release2()
    release2()
    for (const s of STOP_SIGNALS) expect(process.listenerCount(s)).toBe(before[s])
  })

  it('a holder whose word throws (a terminal gone) still exits with the signal\'s code', () => {
    const release = onInterrupt(() => { throw new Error('EIO') })
    process.emit('SIGTERM', 'SIGTERM')
    expect(exits).toEqual([143])
    release()
  })
})

describe('map following its batch', () => {
  it('prints the batch id only once a signal would say where the batch went on, and only then lets the upload\'s holder go', async () => {
    const { followBatch } = await import('../src/cli/batch-follow.ts')
    const { open, rm, mkdtemp } = await import('node:fs/promises')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const dir = await mkdtemp(join(tmpdir(), 'depin-interrupt-'))
    const results = await open(join(dir, 'results.jsonl'), 'a')
    const before = process.listenerCount('SIGINT')
    const seen: Array<{ what: string, listeners: number }> = []
    const write = process.stderr.write.bind(process.stderr)
    vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (String(chunk).startsWith('batch bafytest ')) seen.push({ what: 'id printed', listeners: process.listenerCount('SIGINT') - before })
      return write(chunk as string, ...(rest as []))
    }) as typeof process.stderr.write)
    // The daemon's event stream: nothing, then it goes away.
    const client = {
      api: 'http://127.0.0.1:1',
      source: 'flag' as const,
      dataDir: dir,
      get: async () => { throw new Error('unused') },
      post: async () => { throw new Error('unused') },
      uploadParts: async () => { throw new Error('unused') },
      request: async () => ({
        status: 200,
        ok: true,
        headers: {},
        body: (async function * () { seen.push({ what: 'following', listeners: process.listenerCount('SIGINT') - before }); throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' }) })(),
        bytes: async () => new Uint8Array(0),
        text: async () => '',
        discard: () => {}
      })
    }
    try {
      // The upload's holder, as map has it while its upload's answer is read.
      const releaseUpload = onInterrupt(() => {})
      const handOver = (): void => {
        seen.push({ what: 'hand-over', listeners: process.listenerCount('SIGINT') - before })
        releaseUpload()
      }
      await expect(followBatch(client, 'bafytest', { out: dir, results, resultsFile: join(dir, 'results.jsonl'), total: 2, json: false, nameOf: (t) => String(t.index), accepted: true, handOver })).rejects.toThrow(/stopped reporting batch bafytest/)
      // (the upload's holder and following's: one listener, the shared one)
      expect(seen).toEqual([
        { what: 'hand-over', listeners: 1 },
        { what: 'id printed', listeners: 1 },
        { what: 'following', listeners: 1 }
      ])
      expect(process.listenerCount('SIGINT')).toBe(before)
    } finally {
      await results.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
