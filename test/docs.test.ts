/** The README documents every command and every flag the CLI has. */
import { describe, it, expect } from 'vitest'
import { readdir, readFile } from 'node:fs/promises'
import { buildProgram, type CliActions } from '../src/cli/program.ts'

describe('README', () => {
  it('mentions every command and every long option of the CLI', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
    const noop = new Proxy({}, { get: () => async () => {} }) as CliActions
    const program = buildProgram(noop)
    const missing: string[] = []
    for (const command of program.commands) {
      if (!readme.includes(`depin ${command.name()}`)) missing.push(`command ${command.name()}`)
      for (const option of command.options) {
        const flag = option.long as string
        if (!readme.includes(flag)) missing.push(`${command.name()} ${flag}`)
      }
    }
    expect(missing).toEqual([])
  })

  it('lists in its Logs table only operator-log messages the code writes', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
    const section = readme.slice(readme.indexOf('### Logs'), readme.indexOf('## Commands'))
    const rows = section.split('\n').filter((l) => l.startsWith('| `'))
    const messages = rows.flatMap((row) => [...row.split(' | ')[0].matchAll(/``(.+?)``|`([^`]+)`/g)].map((m) => m[1] ?? m[2]))
    expect(messages.length).toBeGreaterThan(20)
    const root = new URL('../src/', import.meta.url)
    const files = (await readdir(root, { recursive: true })).filter((f) => f.endsWith('.ts'))
    const source = (await Promise.all(files.map(async (f) => await readFile(new URL(f, root), 'utf8')))).join('\n')
    // A message is a string literal in the code; `depin node <peer id> started` a template around the placeholder.
    const written = (m: string): boolean => /<[^>]+>/.test(m)
      ? m.split(/<[^>]+>/).every((part) => source.includes(part))
      : source.includes(`'${m}'`) || source.includes(`\`${m}\``)
    const missing = messages.filter((m) => !written(m))
    expect(missing).toEqual([])
  })

  it('links only to files that exist', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
    for (const [, target] of readme.matchAll(/\]\(((?!https?:)[^)#]+)\)/g)) {
      await expect(readFile(new URL(`../${target}`, import.meta.url)), target).resolves.toBeDefined()
    }
  })
})
