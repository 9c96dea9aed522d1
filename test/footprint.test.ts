/**
 * What a daemon and a client command load, checked in fresh processes: two things that cost an
 * idle daemon memory and every command time without being used (bench/idle, bench/cli-startup).
 */
import { describe, it, expect } from 'vitest'
import { spawnSync } from 'node:child_process'
import { cp, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BIN } from './cli-helpers.ts'
import { tempDir } from './helpers.ts'

const SRC = fileURLToPath(new URL('../src/', import.meta.url))

describe('what depin loads', () => {
  it('loading the daemon and the CLI does not load undici, Node\'s fetch stack (an ES import of node:http would)', () => {
    const script = [
      `await import(${JSON.stringify(join(SRC, 'node/daemon.ts'))})`,
      `await import(${JSON.stringify(join(SRC, 'cli/main.ts'))})`,
      `await import(${JSON.stringify(join(SRC, 'node/metrics/index.ts'))})`,
      'console.log(JSON.stringify(process.moduleLoadList.filter((m) => m.includes("undici"))))'
    ].join('\n')
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 })
    expect(result.status, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual([])
    // The probe sees undici once something uses it.
    const control = spawnSync(process.execPath, ['--input-type=module', '-e', 'new Response("x"); console.log(process.moduleLoadList.some((m) => m.includes("undici")))'], { encoding: 'utf8', timeout: 60_000 })
    expect(control.stdout.trim()).toBe('true')
  })

  it('an installed package reads V8\'s compile cache for client commands, not for the daemon or a testnet', async () => {
    const dir = await tempDir()
    try {
      // bin/depin.js as npm installs it, with a dist/ whose CLI reports whether the cache is on.
      const pkg = join(dir.path, 'node_modules', 'depin')
      await mkdir(join(pkg, 'dist', 'cli'), { recursive: true })
      await cp(BIN, join(pkg, 'bin', 'depin.js'))
      await writeFile(join(pkg, 'dist', 'cli', 'main.js'),
        "import module from 'node:module'\nexport async function run () { console.log(module.getCompileCacheDir?.() === undefined ? 'off' : 'on'); return 0 }\n")
      // Without the variables by which a user would turn the cache on or off for every process.
      const { NODE_COMPILE_CACHE: _on, NODE_DISABLE_COMPILE_CACHE: _off, ...env } = process.env
      const cache = (command: string): string => {
        const result = spawnSync(process.execPath, [join(pkg, 'bin', 'depin.js'), command], { encoding: 'utf8', timeout: 30_000, env })
        expect(result.status, result.stderr).toBe(0)
        return result.stdout.trim()
      }
      expect(cache('status')).toBe('on')
      expect(cache('start')).toBe('off')
      expect(cache('testnet')).toBe('off')
    } finally {
      await dir.remove()
    }
  })
})
