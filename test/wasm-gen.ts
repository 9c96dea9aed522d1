/**
 * Makes large WebAssembly modules out of real ones, for the instrumentation tests and benchmark:
 * `withClonedFunctions` appends copies of a module's own function bodies (same types, same code)
 * until it has the number of extra functions asked for. The copies are never called, so the
 * module runs exactly as before; it only has more code to instrument and compile. Calls inside
 * the copies refer to the original functions, so the result validates.
 */
import { leb } from './wasm-asm.ts'

interface Section { id: number, start: number, end: number, headerStart: number }

function u32 (bytes: Uint8Array, pos: number): [number, number] {
  let result = 0
  let shift = 0
  for (;;) {
    const b = bytes[pos++]
    result += (b & 0x7f) * 2 ** shift
    shift += 7
    if ((b & 0x80) === 0) return [result, pos]
  }
}


function sections (bytes: Uint8Array): Section[] {
  const out: Section[] = []
  let pos = 8
  while (pos < bytes.byteLength) {
    const headerStart = pos
    const id = bytes[pos++]
    const [size, start] = u32(bytes, pos)
    out.push({ id, start, end: start + size, headerStart })
    pos = start + size
  }
  return out
}

/** `module` with `extra` more functions: copies of its own bodies, round-robin. */
export function withClonedFunctions (module: Uint8Array, extra: number): Uint8Array {
  const all = sections(module)
  const funcSection = all.find(s => s.id === 3)
  const codeSection = all.find(s => s.id === 10)
  if (funcSection === undefined || codeSection === undefined) throw new Error('module has no functions')
  let [count, pos] = u32(module, funcSection.start)
  const types: number[] = []
  for (let i = 0; i < count; i++) {
    const [t, next] = u32(module, pos)
    types.push(t)
    pos = next
  }
  ;[count, pos] = u32(module, codeSection.start)
  const bodies: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const [size, start] = u32(module, pos)
    bodies.push(module.subarray(pos, start + size)) // size prefix included
    pos = start + size
  }

  const funcPayload: number[] = [...leb(count + extra)]
  for (let i = 0; i < count + extra; i++) funcPayload.push(...leb(types[i % count]))
  let codeBytes = 0
  for (let i = 0; i < count + extra; i++) codeBytes += bodies[i % count].byteLength
  const countBytes = leb(count + extra)
  const codePayload = new Uint8Array(countBytes.length + codeBytes)
  codePayload.set(countBytes)
  let at = countBytes.length
  for (let i = 0; i < count + extra; i++) {
    codePayload.set(bodies[i % count], at)
    at += bodies[i % count].byteLength
  }

  const parts: Uint8Array[] = [module.subarray(0, 8)]
  const section = (id: number, payload: Uint8Array): Uint8Array => Uint8Array.from([id, ...leb(payload.byteLength)])
  for (const s of all) {
    if (s.id === 3) {
      parts.push(section(3, Uint8Array.from(funcPayload)), Uint8Array.from(funcPayload))
    } else if (s.id === 10) {
      parts.push(section(10, codePayload), codePayload)
    } else {
      parts.push(module.subarray(s.headerStart, s.end))
    }
  }
  return Buffer.concat(parts)
}

/** `module` grown with copies of its functions to at least `bytes` bytes. */
export function moduleOfSize (module: Uint8Array, bytes: number): Uint8Array {
  const codeSection = sections(module).find(s => s.id === 10)
  if (codeSection === undefined) throw new Error('module has no code')
  const [count] = u32(module, codeSection.start)
  const perCopy = (codeSection.end - codeSection.start) / count
  return withClonedFunctions(module, Math.ceil((bytes - module.byteLength) / perCopy))
}
