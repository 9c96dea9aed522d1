/**
 * Runs benchmarks one after another in separate processes (so one's heap and threads do not
 * disturb the next): `npm run bench` runs all, `npm run bench -- dispatch cpu` runs some.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const dir = fileURLToPath(new URL('.', import.meta.url))
// lib*.ts and the message counter are helpers shared by the benchmarks, not benchmarks
const all = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('lib') && f !== 'message-counter.ts').map((f) => f.slice(0, -3)).sort()
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : all
let failed = 0
for (const name of chosen) {
  if (!all.includes(name)) {
    process.stderr.write(`bench: no benchmark ${name} (have: ${all.join(', ')})\n`)
    process.exitCode = 2
    continue
  }
  process.stdout.write(`\n=== bench/${name}.ts ===\n`)
  const result = spawnSync(process.execPath, [`${dir}${name}.ts`], { stdio: 'inherit' })
  if (result.status !== 0) failed++
}
if (failed > 0) process.exitCode = 1
