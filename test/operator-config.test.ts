/**
 * How `start` combines config.json with its options, and what it says about a log file it
 * cannot write (the raw errno used to name a parent directory, e.g. `EEXIST … mkdir config.json`).
 */
import { describe, expect, it } from 'vitest'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError } from '../src/errors.ts'
import { configFileSchema } from '../src/node/config.ts'
import { startConfig } from '../src/node/daemon.ts'
import { createOperatorLog } from '../src/node/operator-log.ts'
import { tempDir } from './helpers.ts'

const PEER_A = '/ip4/127.0.0.1/tcp/9/p2p/12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc'
const PEER_B = '/ip4/127.0.0.1/tcp/10/p2p/12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc'

describe('startConfig', () => {
  const config = configFileSchema.parse({ bootstrap: [PEER_A], listen: ['/ip4/0.0.0.0/tcp/4001'] })

  it('replaces config.json\'s bootstrap list with the one given, as it does listen', () => {
    const merged = startConfig(config, { bootstrap: [PEER_B], listen: ['/ip4/127.0.0.1/tcp/0'] })
    expect(merged.bootstrap).toEqual([PEER_B])
    expect(merged.listen).toEqual(['/ip4/127.0.0.1/tcp/0'])
  })

  it('keeps config.json\'s lists when none is given (or an empty one)', () => {
    expect(startConfig(config, {}).bootstrap).toEqual([PEER_A])
    expect(startConfig(config, { bootstrap: [] }).bootstrap).toEqual([PEER_A])
    expect(startConfig(config, { mine: true }).mine).toBe(true)
  })
})

describe('the operator log file', () => {
  it('under a regular file, or a directory, is a ConfigError naming the log file', async () => {
    const dir = await tempDir()
    try {
      await writeFile(join(dir.path, 'config.json'), '{}')
      await mkdir(join(dir.path, 'logs'))
      for (const [file, why] of [[join(dir.path, 'config.json', 'x.log'), /a part of its path is a file/], [join(dir.path, 'logs'), /it is a directory/]] as const) {
        let caught: unknown
        try {
          createOperatorLog({ file })
        } catch (err) {
          caught = err
        }
        expect(caught).toBeInstanceOf(ConfigError)
        expect((caught as Error).message).toContain(`log file ${JSON.stringify(file)} (--log-file`)
        expect((caught as Error).message).toMatch(why)
      }
    } finally {
      await dir.remove()
    }
  })
})
