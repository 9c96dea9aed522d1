/**
 * README's embedding snippets ("Embedding", "Jobs with files") compile as written, against the
 * package entry (only the import path changes), and the types public signatures use can be named
 * from the entry.
 */
import { describe, it, expect } from 'vitest'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url))

/** The ```ts blocks of README between the headings `from` and `to`. */
function blocks (readme: string, from: string, to: string): string[] {
  const section = readme.slice(readme.indexOf(from), readme.indexOf(to))
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1])
}

/** Types an embedder names (they appear in public signatures). */
const PUBLIC_TYPES = [
  'JobError', 'Retention', 'RetentionInit', 'PruneReport', 'RunOptions', 'ExecutorStats', 'SchedulerInit', 'Scheduler',
  'OperatorLogHandle', 'CreateGenesisConfigInit', 'JobHandleEvents', 'BatchHandleEvents', 'Signer', 'LedgerStats',
  'MempoolInfo', 'MiningInfo', 'SyncResult', 'AddBlockResult', 'InvalidPathReason', 'ManifestLimits', 'PathRules', 'PeerScoreInit'
]

describe('README embedding snippets', () => {
  it('typecheck as written (strict, nodenext) against the package entry', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
    const snippets = [...blocks(readme, '## Embedding', '## Local API'), ...blocks(readme, '## Jobs with files', '## Metrics')]
    expect(snippets.length).toBe(4)
    snippets.push(`import type { ${PUBLIC_TYPES.join(', ')} } from 'depin'\nexport type All = [${PUBLIC_TYPES.join(', ')}]\n`)
    const dir = await mkdtemp(join(tmpdir(), 'depin-readme-'))
    try {
      const files: string[] = []
      for (const [i, snippet] of snippets.entries()) {
        const file = join(dir, `snippet${i}.mts`)
        await writeFile(file, snippet.replaceAll("from 'depin'", `from ${JSON.stringify(entry)}`))
        files.push(file)
      }
      const program = ts.createProgram(files, {
        strict: true,
        noEmit: true,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2022,
        lib: ['lib.es2024.d.ts'],
        types: ['node'],
        typeRoots: [fileURLToPath(new URL('../node_modules/@types', import.meta.url))],
        allowImportingTsExtensions: true,
        skipLibCheck: true
      })
      const errors = files.flatMap((file) => ts.getPreEmitDiagnostics(program, program.getSourceFile(file)))
        .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`)
      expect(errors).toEqual([])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
