/**
 * Local checks before an upload: a module that is not WebAssembly, is over the size cap, or does
 * not validate (WebAssembly.validate) is refused here without sending a byte (the daemon checks
 * the header and size while it streams; a module that does not validate would fail on the worker).
 */
import { open, readFile, stat } from 'node:fs/promises'
import { MAX_MODULE_BYTES } from '../scheduler/constants.ts'
import { wasm } from '../scheduler/executor/wasm-api.ts'
import { fileErrorText, LocalCheckError, UsageError } from './errors.ts'

/** `\0asm` and version 1. */
const WASM_HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]

/** Returns the module's size after checking it is a WebAssembly binary within the cap. */
export async function checkModuleFile (path: string): Promise<number> {
  let size: number
  try {
    const info = await stat(path)
    if (!info.isFile()) throw new UsageError(`module ${path} is not a file`)
    size = info.size
  } catch (err) {
    if (err instanceof UsageError) throw err
    throw new UsageError(`cannot read module ${path}: ${fileErrorText(err)}`)
  }
  if (size > MAX_MODULE_BYTES) throw new LocalCheckError(`module ${path} is ${size} bytes; the limit is ${MAX_MODULE_BYTES} (64 MiB); nothing was uploaded`)
  const header = Buffer.alloc(WASM_HEADER.length)
  const file = await open(path, 'r')
  try {
    await file.read(header, 0, header.length, 0)
  } finally {
    await file.close()
  }
  if (size < WASM_HEADER.length || !WASM_HEADER.every((b, i) => header[i] === b)) {
    const hint = header.subarray(0, 4).toString('latin1') === '\0asm' ? ' (a WebAssembly header, but not version 1)' : /\.wat$/i.test(path) ? ' (a .wat text file: compile it to .wasm first)' : ''
    throw new LocalCheckError(`module ${path} is not a WebAssembly binary${hint}; nothing was uploaded`)
  }
  // The header alone lets a truncated or garbage body through, to fail on the worker.
  const bytes = await readFile(path)
  if (!wasm.validate(bytes)) {
    throw new LocalCheckError(`module ${path} is not a valid WebAssembly module (${compileError(bytes)}); nothing was uploaded`)
  }
  return size
}

/** V8's reason a module does not compile, without its `WebAssembly.Module(): ` prefix. */
function compileError (bytes: Uint8Array): string {
  try {
    new wasm.Module(bytes) // eslint-disable-line no-new
    return 'it does not validate'
  } catch (err) {
    return (err as Error).message.replace(/^WebAssembly\.Module\(\): /, '').split('\n')[0]
  }
}
