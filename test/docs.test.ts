/** The README documents every command and every flag the CLI has. */
import { describe, it, expect } from 'vitest'
import { readFile } from 'node:fs/promises'
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

  it('links only to files that exist', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
    for (const [, target] of readme.matchAll(/\]\(((?!https?:)[^)#]+)\)/g)) {
      await expect(readFile(new URL(`../${target}`, import.meta.url)), target).resolves.toBeDefined()
    }
  })
})
