#!/usr/bin/env node
// depin command entry. In a checkout it runs the TypeScript sources directly (Node >= 22.18 strips
// types natively); an installed package (under node_modules, where Node does not strip types)
// runs the compiled dist/.
const [major] = process.versions.node.split('.').map(Number)
if (major < 22) {
  process.stderr.write(`depin: needs Node.js >= 22 (this is ${process.version}); run it as \`npx depin\` from the project so the pinned Node is used\n`)
  process.exit(1)
}
// node:wasi prints an ExperimentalWarning once per process; it is expected, not news to an operator.
const emitWarning = process.emitWarning
process.emitWarning = function (warning, ...rest) {
  const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type
  if (type === 'ExperimentalWarning' && /WASI/i.test(String(warning))) return
  return emitWarning.call(process, warning, ...rest)
}
const inNodeModules = import.meta.url.includes('/node_modules/')
const entry = inNodeModules ? '../dist/cli/main.js' : '../src/cli/main.ts'
const { run } = await import(entry)
process.exitCode = await run(process.argv)
