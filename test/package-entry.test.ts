/**
 * The package entry, as an embedder sees it: every error class a public call can throw is
 * exported (the `exports` map refuses deep imports, so `instanceof` needs them here), and
 * package.json's `exports` resolves for `import` and for `require`.
 */
import { describe, it, expect } from 'vitest'
import { readdir, readFile } from 'node:fs/promises'
import * as depin from '../src/index.ts'

const root = new URL('../src/', import.meta.url)

/**
 * Error classes that are not part of the library: the CLI's own (src/cli/, reported on the
 * terminal) and the HTTP API's (src/node/api/, turned into HTTP responses by the daemon).
 */
const INTERNAL_DIRS = ['cli/', 'node/api/']

/** Every `export class X extends …Error` under src/, with its file. */
async function errorClasses (): Promise<Array<{ name: string, file: string }>> {
  const files = (await readdir(root, { recursive: true })).filter((f) => f.endsWith('.ts'))
  const found: Array<{ name: string, file: string }> = []
  for (const file of files) {
    const source = await readFile(new URL(file, root), 'utf8')
    for (const m of source.matchAll(/^export class (\w+) extends (\w+Error)\b/gm)) found.push({ name: m[1], file })
  }
  return found
}

describe('package entry (src/index.ts)', () => {
  it('exports every error class outside the CLI and the HTTP API, each a DepinError', async () => {
    const classes = await errorClasses()
    expect(classes.length).toBeGreaterThan(90)
    const exported = depin as Record<string, unknown>
    const missing = classes.filter(({ file }) => !INTERNAL_DIRS.some((dir) => file.startsWith(dir))).filter(({ name }) => exported[name] == null).map(({ name, file }) => `${name} (${file})`)
    expect(missing).toEqual([])
    for (const { name, file } of classes) {
      if (INTERNAL_DIRS.some((dir) => file.startsWith(dir))) continue
      expect((exported[name] as Function).prototype, name).toBeInstanceOf(depin.DepinError)
    }
  })

  it('the errors the review reproduced are the classes thrown', async () => {
    const executor = depin.createExecutor({ workers: 1 })
    await executor.start()
    await executor.stop()
    await expect(executor.run({} as any)).rejects.toBeInstanceOf(depin.ExecutorStoppedError)
    expect(new depin.OverdraftError('x', 'reject')).toBeInstanceOf(depin.LedgerError)
    expect(() => depin.createGenesisConfig({ blockIntervalMs: -1 })).toThrow(depin.GenesisConfigError)
  })
})

describe('package.json exports', () => {
  it('resolves for import and for require (CommonJS consumers load the ES module with require(esm))', async () => {
    const { createRequire } = await import('node:module')
    const { mkdtemp, mkdir, writeFile, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const pkg = await readFile(new URL('../package.json', import.meta.url), 'utf8')
    const exportsMap = JSON.parse(pkg).exports
    expect(exportsMap['.'].types).toBe('./dist/index.d.ts')
    // A consumer project with the package installed in its built layout (dist/ stubbed).
    const dir = await mkdtemp(join(tmpdir(), 'depin-exports-'))
    try {
      const installed = join(dir, 'node_modules', 'depin')
      await mkdir(join(installed, 'dist'), { recursive: true })
      await writeFile(join(installed, 'package.json'), pkg)
      await writeFile(join(installed, 'dist', 'index.js'), 'export const entry = "dist/index.js"\n')
      const require = createRequire(join(dir, 'consumer.cjs'))
      expect(require.resolve('depin')).toBe(join(installed, 'dist', 'index.js'))
      expect(require('depin').entry).toBe('dist/index.js')
      expect(require('depin/package.json').name).toBe('depin')
      const { execFileSync } = await import('node:child_process')
      const imported = execFileSync(process.execPath, ['--input-type=module', '-e', 'const d = await import("depin"); process.stdout.write(d.entry)'], { cwd: dir, encoding: 'utf8' })
      expect(imported).toBe('dist/index.js')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('ships src/ when the build writes source or declaration maps (they point at src/…ts)', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'))
    const base = JSON.parse(await readFile(new URL('../tsconfig.json', import.meta.url), 'utf8')).compilerOptions
    const build = JSON.parse(await readFile(new URL('../tsconfig.build.json', import.meta.url), 'utf8')).compilerOptions
    const options = { ...base, ...build }
    const maps = options.sourceMap === true || options.declarationMap === true
    if (maps && options.inlineSources !== true) expect(pkg.files).toContain('src')
  })
})
