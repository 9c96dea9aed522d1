/**
 * proc_exit ends the job even when the module catches the exception that unwinds it (wasm
 * `catch_all` catches host exceptions): the result is the exit code and the fuel counted at the
 * call, later host calls have no effect, and the code traps at its next fuel check
 * (docs/protocol.md, "Fuel", "Limits and the result"). stdout passing its cap ends the job the
 * same way: trap 'output limit exceeded', caught or not.
 */
import { describe, expect, it } from 'vitest'
import { HOST_CALL_FUEL } from '../src/scheduler/executor/index.ts'
import type { ExecSpec } from '../src/scheduler/executor/index.ts'
import { assemble, I32, sleb } from './wasm-asm.ts'
import { execSpec as spec, useExecutor } from './executor-helpers.ts'


const PROC_EXIT = 0
const FD_WRITE = 1
/** `try; <inner>; catch_all; end`: whatever <inner> throws is caught. */
const tryCatchAll = (inner: number[]): number[] => [0x06, 0x40, ...inner, 0x19, 0x0b]
const exit = (code: number): number[] => [0x41, ...sleb(code), 0x10, PROC_EXIT]
/** Writes "hi\n" to stdout: an iovec {16, 3} at 0, the bytes at 16. */
const WRITE_HI = [
  0x41, 0x00, 0x41, 0x10, 0x36, 0x02, 0x00, // i32.store [0] = 16
  0x41, 0x04, 0x41, 0x03, 0x36, 0x02, 0x00, // i32.store [4] = 3
  0x41, 0x10, 0x41, ...sleb(0x0a6968), 0x36, 0x02, 0x00, // i32.store [16] = "hi\n"
  0x41, 0x01, 0x41, 0x00, 0x41, 0x01, 0x41, 0x08, 0x10, FD_WRITE, 0x1a // fd_write(1, 0, 1, 8); drop
]
/** `loop; br 0; end`: never ends by itself. */
const SPIN = [0x03, 0x40, 0x0c, 0x00, 0x0b]

/** `_start` (function 2) runs `code`; function 3, if `start` is set, is a start function that runs it instead. */
function job (code: number[], start?: number[]): Uint8Array {
  return assemble({
    types: [[0x60, 0x01, I32, 0x00], [0x60, 0x04, I32, I32, I32, I32, 0x01, I32], [0x60, 0x00, 0x00]],
    wasi: [['proc_exit', 0], ['fd_write', 1]],
    funcs: [{ type: 2, body: [0x00, ...code, 0x0b] }, ...(start === undefined ? [] : [{ type: 2, body: [0x00, ...start, 0x0b] }])],
    memory: 1,
    ...(start === undefined ? {} : { startSection: 3 })
  })
}

/** try (0) + i32.const (1) + call (1) + catch_all (0): the entry segment, then proc_exit's call fuel. */
const EXIT_FUEL = 2n + BigInt(HOST_CALL_FUEL)

describe('proc_exit', () => {
  const pool = useExecutor()

  it('a caught exit still ends the job: a later host call does nothing and the exit is the result', async () => {
    const result = await pool.executor.run(spec(job([...tryCatchAll(exit(3)), ...WRITE_HI])))
    expect(result).toMatchObject({ exitCode: 3, trap: undefined, fuel: EXIT_FUEL })
    expect(result.stdout.byteLength).toBe(0)
  })

  it('code that catches the exit and loops without host calls traps at its next check: the exit is the result', async () => {
    // without the stop, the loop would run to the fuel limit (out of fuel) or the timeout
    const result = await pool.executor.run(spec(job([...tryCatchAll(exit(4)), ...SPIN]), { fuel: 10_000_000n }))
    expect(result).toMatchObject({ exitCode: 4, trap: undefined, fuel: EXIT_FUEL })
  })

  it('the same without a try: an ordinary exit, and a write before it counts', async () => {
    const result = await pool.executor.run(spec(job([...WRITE_HI, ...exit(5)])))
    expect(result).toMatchObject({ exitCode: 5, trap: undefined })
    expect(new TextDecoder().decode(result.stdout)).toBe('hi\n')
  })

  it('an exit from the module\'s start function is the job\'s exit', async () => {
    // start: i32.const 6; call proc_exit (2 + the call's fuel); _start never runs
    const result = await pool.executor.run(spec(job(WRITE_HI, exit(6))))
    expect(result).toMatchObject({ exitCode: 6, trap: undefined, fuel: 2n + BigInt(HOST_CALL_FUEL) })
    expect(result.stdout.byteLength).toBe(0)
  })
})

describe('stdout\'s cap', () => {
  // 2 bytes of stdout: "hi\n" passes it
  const pool = useExecutor({ maxStdoutBytes: 2 })

  it('a caught output-limit stop still ends the job: an exit after it is not the result', async () => {
    const result = await pool.executor.run(spec(job([...tryCatchAll(WRITE_HI), ...exit(0)])))
    expect(result).toMatchObject({ exitCode: -1, trap: 'output limit exceeded', stdoutTruncated: true })
    expect(new TextDecoder().decode(result.stdout)).toBe('hi')
  })

  it('a module that catches it and returns normally has still stopped there', async () => {
    const result = await pool.executor.run(spec(job(tryCatchAll(WRITE_HI))))
    expect(result).toMatchObject({ exitCode: -1, trap: 'output limit exceeded' })
  })

  it('code that catches it and loops traps at its next check: the stop is the result, with the fuel counted at the write', async () => {
    const caught = await pool.executor.run(spec(job([...tryCatchAll(WRITE_HI), ...SPIN]), { fuel: 10_000_000n }))
    const uncaught = await pool.executor.run(spec(job([...WRITE_HI, ...SPIN]), { fuel: 10_000_000n }))
    expect(caught).toMatchObject({ exitCode: -1, trap: 'output limit exceeded' })
    expect(uncaught).toMatchObject({ exitCode: -1, trap: 'output limit exceeded' })
    // the try's segment is free (no instruction is charged for it): the same fuel either way
    expect(caught.fuel).toBe(uncaught.fuel)
    expect(caught.fuel).toBeGreaterThan(BigInt(HOST_CALL_FUEL))
    expect(caught.fuel).toBeLessThan(10_000_000n)
  })
})
