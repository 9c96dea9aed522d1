/** depin's version, from package.json (one source of truth for `depin version` and the API). */
import { readFileSync } from 'node:fs'

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
