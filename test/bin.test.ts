/**
 * `depin` as a bare command on PATH (what `npm link` / `npm install -g .` make: a symlink to
 * bin/depin.js in a bin directory), run from another directory on a machine whose `node` is
 * older: the bin runs on the Node.js the project pins (node_modules/node), and without one it
 * says clearly what it needs.
 */
import { describe, it, expect } from 'vitest'
import { spawnSync } from 'node:child_process'
import { copyFile, mkdir, readFile, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { BIN } from './cli-helpers.ts'
import { tempDir } from './helpers.ts'

const PKG = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string, engines: { node: string } }
/** The machine's own node (Node 20 here), or undefined. */
const systemNode = spawnSync('/usr/bin/env', ['-i', 'PATH=/usr/local/bin:/usr/bin:/bin', 'node', '--version'], { encoding: 'utf8' }).stdout?.trim()

describe('depin on PATH', () => {
  it('runs from any directory through a symlink on PATH, on the pinned Node, whatever node is first on PATH', async () => {
    const dir = await tempDir()
    try {
      const bin = join(dir.path, 'bin')
      await mkdir(bin)
      await symlink(BIN, join(bin, 'depin'))
      const env = { PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`, HOME: dir.path }
      const result = spawnSync('depin', ['version', '--json'], { cwd: '/', env, encoding: 'utf8' })
      expect(result.status, result.stderr).toBe(0)
      const out = JSON.parse(result.stdout) as { version: string, node: string }
      expect(out.version).toBe(PKG.version)
      expect(Number(out.node.slice(1).split('.')[0])).toBeGreaterThanOrEqual(22)
      const help = spawnSync('depin', ['--help'], { cwd: dir.path, env, encoding: 'utf8' })
      expect(help.stdout).toMatch(/^Usage: depin/)
    } finally {
      await dir.remove()
    }
  })

  it('package.json\'s engines says the Node.js version the bin needs (22.18: type stripping)', async () => {
    const bin = await readFile(BIN, 'utf8')
    const [, major, minor] = /major < (\d+) \|\| \(major === \d+ && minor < (\d+)\)/.exec(bin) ?? []
    expect(`${major}.${minor}`).toBe('22.18')
    expect(PKG.engines.node).toBe(`>=${major}.${minor}.0`)
  })

  it.skipIf(systemNode == null || Number(systemNode.slice(1).split('.')[0]) >= 22)('without the pinned Node and with an old node on PATH, says what it needs in one line', async () => {
    const dir = await tempDir()
    try {
      // A copy of the bin with no node_modules beside it: only the PATH's node is there.
      await mkdir(join(dir.path, 'bin'))
      await copyFile(BIN, join(dir.path, 'bin', 'depin.js'))
      const result = spawnSync(join(dir.path, 'bin', 'depin.js'), ['version'], { cwd: '/', env: { PATH: '/usr/local/bin:/usr/bin:/bin' }, encoding: 'utf8' })
      expect(result.status).toBe(1)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      expect(result.stderr).toMatch(new RegExp(`^depin: needs Node\\.js >= 22\\.18 \\(this is ${systemNode?.replace(/\./g, '\\.')}\\)`))
    } finally {
      await dir.remove()
    }
  })
})
