/** `depin version` (and `--version`): the version in package.json. */
import { VERSION } from '../../version.ts'
import { line, printJson } from '../output.ts'

export async function versionCommand (opts: { json?: boolean }): Promise<void> {
  if (opts.json === true) printJson({ version: VERSION, node: process.version })
  else line(VERSION)
}
