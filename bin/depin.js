#!/bin/sh
':' //; d=$(dirname "$(readlink -f "$0")"); n="$d/../node_modules/node/bin/node"; [ -x "$n" ] || n=node; exec "$n" "$0" "$@"
// The line above is for the shell and a comment for JavaScript: started as a command (`depin`,
// linked onto PATH by `npm link` or `npm install -g .`), it runs this file with the Node.js the
// project pins (node_modules/node, Node 24) when there is one, else with the `node` on PATH.
//
// depin command entry. In a checkout it runs the TypeScript sources directly (Node >= 22.18 strips
// types natively); an installed package (under node_modules, where Node does not strip types)
// runs the compiled dist/.
import module from 'node:module'

const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`depin: needs Node.js >= 22.18 (this is ${process.version}). In the project, run \`npm install\` (it brings Node 24 in node_modules) and use \`npx depin\` or link it with \`npm link\`; elsewhere install Node 22.18 or newer\n`)
  process.exit(1)
}
// node:wasi prints an ExperimentalWarning once per process; it is expected, not news to an operator.
const emitWarning = process.emitWarning
process.emitWarning = function (warning, ...rest) {
  const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type
  if (type === 'ExperimentalWarning' && /WASI|Type Stripping/i.test(String(warning))) return
  return emitWarning.call(process, warning, ...rest)
}
const inNodeModules = import.meta.url.includes('/node_modules/')
// V8's code cache for depin's modules between runs (Node >= 22.1): client commands start faster,
// and from the TypeScript sources the cache also spares the daemon the type stripper (about
// 16 MiB). Not for the compiled daemon (`start`, `testnet`), which runs for days: code read from
// the cache is every function the caching run compiled, so the idle daemon holds about 7 MiB
// more than one that compiles lazily (bench/idle).
const longRunning = process.argv[2] === 'start' || process.argv[2] === 'testnet'
if (!(inNodeModules && longRunning)) module.enableCompileCache?.()
const entry = inNodeModules ? '../dist/cli/main.js' : '../src/cli/main.ts'
const { run } = await import(entry)
process.exitCode = await run(process.argv)
