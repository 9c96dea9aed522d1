/** Argument parsing is pure: the program is built with recording actions. */
import { describe, it, expect } from 'vitest'
import { CommanderError } from 'commander'
import { buildProgram, type CliActions } from '../src/cli/program.ts'

function recorder () {
  const calls: Array<{ command: string, options: any }> = []
  const record = (command: string) => async (options: any) => { calls.push({ command, options }) }
  const actions = new Proxy({}, { get: (_t, name: string) => record(name) }) as CliActions
  const program = buildProgram(actions)
  program.configureOutput({ writeErr: () => {}, writeOut: () => {} })
  for (const cmd of program.commands) cmd.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} })
  return { calls, parse: async (...args: string[]) => await program.parseAsync(['node', 'depin', ...args]) }
}

describe('depin argument parsing', () => {
  it('start takes repeatable addresses and checked numbers', async () => {
    const { calls, parse } = recorder()
    await parse('start', '--data-dir', '/d', '--listen', '/ip4/127.0.0.1/tcp/1', '--listen', '/ip4/127.0.0.1/tcp/2',
      '--bootstrap', '/ip4/127.0.0.1/tcp/3/p2p/12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc', '--cores', '3', '--memory', '512', '--price', '0', '--mine', '--no-mdns', '--api', '127.0.0.1:5000')
    expect(calls[0]).toEqual({
      command: 'start',
      options: {
        dataDir: '/d',
        listen: ['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2'],
        bootstrap: ['/ip4/127.0.0.1/tcp/3/p2p/12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc'],
        cores: 3,
        memory: 512,
        price: 0,
        mine: true,
        mdns: false,
        api: '127.0.0.1:5000'
      }
    })
  })

  it('refuses unknown flags, bad numbers, bad multiaddrs and non-loopback API hosts', async () => {
    const cases = [
      ['start', '--bogus'],
      ['start', '--cores', '0'],
      ['start', '--cores', 'two'],
      ['start', '--listen', 'not-a-multiaddr'],
      ['status', '--api', '10.0.0.1:4101'],
      ['status', '--api', 'localhost'],
      ['testnet', '--nodes', '1000'],
      ['testnet', '--transport', 'udp'],
      ['no-such-command'],
      ['status', 'extra-argument']
    ]
    for (const args of cases) {
      const { calls, parse } = recorder()
      await expect(parse(...args), args.join(' ')).rejects.toBeInstanceOf(CommanderError)
      expect(calls).toEqual([])
    }
  })

  it('names what is wrong: a peer id argument, a number too large for its range, a metrics address off loopback', async () => {
    const refused = async (...args: string[]): Promise<string> => {
      const { calls, parse } = recorder()
      const err = await parse(...args).then(() => undefined, (e: unknown) => e)
      expect(err, args.join(' ')).toBeInstanceOf(CommanderError)
      expect(calls).toEqual([])
      return (err as Error).message
    }
    expect(await refused('balance', 'notapeer')).toMatch(/for argument 'peer'\. expected a peer id \(12D3KooW…, 52 characters; `depin status` shows a node's\), got "notapeer"$/)
    expect(await refused('transfer', 'notapeer', '5')).toMatch(/for argument 'peer'\. expected a peer id/)
    expect(await refused('transfer', '12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc', '9999999999999999999999')).toMatch(/for argument 'amount'\. expected an integer from 1 to 9007199254740991, got 9999999999999999999999 \(too large\)$/)
    expect(await refused('submit', 'm.wasm', '--timeout', '86401')).toMatch(/expected an integer from 1 to 86400, got 86401$/)
    // Empty values: a usage error, not the daemon's refusal nor the current directory.
    expect(await refused('capacity', '--runtime', '')).toMatch(/option '--runtime <name>' argument '' is invalid\. expected a runtime name of 1 to 32 characters \(e\.g\. wasi-p1\), got ""$/)
    expect(await refused('capacity', '--runtime', 'r'.repeat(33))).toMatch(/expected a runtime name of 1 to 32 characters/)
    for (const args of [['testnet', '--dir', ''], ['status', '--data-dir', ''], ['init', '--data-dir', ''], ['start', '--log-file', ''],
      ['submit', 'm.wasm', '--in', 'a', '--in', ''], ['submit', 'm.wasm', '--wait', '-o', ''], ['job', 'x', '--out', ''], ['map', 'm.wasm', 'i', '--out', '']]) {
      expect(await refused(...args), args.join(' ')).toMatch(/argument '' is invalid\. expected a path, got ""$/)
    }
    expect(await refused('start', '--metrics', '0.0.0.0:9464')).toMatch(/metrics listen on loopback only \(put a proxy in front to expose them\); 0\.0\.0\.0 is not a loopback address$/)
    const { calls, parse } = recorder()
    await parse('balance', '12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc')
    expect(calls).toHaveLength(1)
  })

  it('testnet has defaults; client commands take --json', async () => {
    const { calls, parse } = recorder()
    await parse('testnet')
    await parse('status', '--json', '--data-dir', '/x')
    await parse('capacity', '--min-cores', '2', '--max-price', '5', '--limit', '3')
    expect(calls[0].options).toEqual({ nodes: 4 })
    expect(calls[1].options).toEqual({ json: true, dataDir: '/x' })
    expect(calls[2].options).toMatchObject({ runtime: 'wasi-p1', minCores: 2, maxPrice: 5, limit: 3 })
  })

  it('jobs --prune takes --older-than as a duration', async () => {
    const { calls, parse } = recorder()
    await parse('jobs', '--prune', '--older-than', '12h', '--json')
    await parse('jobs', '--prune')
    expect(calls[0].options).toEqual({ prune: true, olderThan: 12 * 60 * 60 * 1000, json: true })
    expect(calls[1].options).toEqual({ prune: true })
    for (const bad of ['forever', '12', '1.5d']) {
      const { calls: none, parse: p } = recorder()
      await expect(p('jobs', '--prune', '--older-than', bad), bad).rejects.toBeInstanceOf(CommanderError)
      expect(none).toEqual([])
    }
  })

  it('submit, map and job take --in (repeatable), --out and --fuel (0..2^64-1, kept as decimal text)', async () => {
    const calls: Array<{ command: string, args: any[] }> = []
    const actions = new Proxy({}, { get: (_t, name: string) => async (...args: any[]) => { calls.push({ command: name, args }) } }) as CliActions
    const parse = async (...args: string[]): Promise<void> => {
      const program = buildProgram(actions)
      program.configureOutput({ writeErr: () => {}, writeOut: () => {} })
      for (const cmd of program.commands) cmd.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} })
      await program.parseAsync(['node', 'depin', ...args])
    }
    await parse('submit', 'm.wasm', '--in', 'photos', '--in', 'notes.txt', '--out', 'thumbs', '--fuel', '007')
    await parse('submit', 'm.wasm', '--fuel', '18446744073709551615', '--fuel', '0')
    await parse('map', 'm.wasm', 'a', 'b', '--out', 'o', '--in', 'shared', '--fuel', '5000')
    await parse('job', 'bafyid', '--out', 'dir', '-o', 'stdout.txt')
    expect(calls[0]).toEqual({ command: 'submit', args: ['m.wasm', { in: ['photos', 'notes.txt'], out: 'thumbs', fuel: '7' }] })
    expect(calls[1].args[1]).toEqual({ fuel: '0' })
    expect(calls[2]).toEqual({ command: 'map', args: ['m.wasm', ['a', 'b'], { out: 'o', in: ['shared'], fuel: '5000' }] })
    expect(calls[3]).toEqual({ command: 'job', args: ['bafyid', { out: 'dir', output: 'stdout.txt' }] })
    for (const bad of ['-1', '18446744073709551616', 'abc', '1.5', '1e9', '', ' 5']) {
      calls.length = 0
      await expect(parse('submit', 'm.wasm', '--fuel', bad), bad).rejects.toBeInstanceOf(CommanderError)
      await expect(parse('map', 'm.wasm', 'a', '--out', 'o', '--fuel', bad), bad).rejects.toBeInstanceOf(CommanderError)
      expect(calls).toEqual([])
    }
  })

  it('-o FILE inside --out DIR (or DIR itself) is refused up front for submit and job, exit 2, with nothing run', async () => {
    for (const [output, out] of [['res/result.txt', 'res'], ['res/a/b', './res/'], ['res', 'res'], [`${process.cwd()}/res/x`, 'res'], ['..foo', '.']]) {
      for (const args of [['submit', 'm.wasm', '--wait'], ['job', 'bafyid']]) {
        const { calls, parse } = recorder()
        const err = await parse(...args, '--out', out, '-o', output).then(() => undefined, (e: unknown) => e)
        expect(err, `${args[0]} -o ${output} --out ${out}`).toBeInstanceOf(CommanderError)
        expect(err).toMatchObject({ exitCode: 2, message: `error: -o ${output} is inside --out ${out}: the job's files written there and its output could overwrite each other; give -o a path outside ${out}` })
        expect(calls).toEqual([])
      }
    }
    // Beside it (even with a name that starts like it) is fine.
    const { calls, parse } = recorder()
    await parse('submit', 'm.wasm', '--out', 'res', '-o', 'res.txt')
    await parse('job', 'bafyid', '--out', 'res', '-o', 'results/out.txt')
    await parse('job', 'bafyid', '--out', 'a/res', '-o', 'a/stdout')
    expect(calls.map((c) => c.command)).toEqual(['submit', 'job', 'job'])
  })
})
