/**
 * The `wasi_snapshot_preview1` import object a job runs against (inside a worker thread).
 *
 * node:wasi supplies only what is already deterministic and host-free given our options:
 * `args_*` and `environ_*` (built from the spec, never from the host). Every other preview1
 * function is ours:
 * - `proc_exit` throws `ProcExit` through the wasm stack and records the exit code. A module may
 *   catch that exception (wasm `catch_all` catches host exceptions), so the exit is final in other
 *   ways too: every later host call throws `ProcExit` again, before charging or doing anything,
 *   and `onExit` lets the meter stop the count and trap the code at its next check. The run's
 *   result is the recorded exit (`WasiShim.exitCode`), however the stack unwound after it.
 *
 * - Descriptors and paths (wasi-fs.ts) reach only the sandbox file system (memfs.ts): `/in`
 *   (read-only, fd 3) and `/out` (writable, fd 4), in memory, plus stdio.
 * - stdin/stdout/stderr live in memory: reads of stdin copy from the spec's stdin, writes to
 *   stdout and stderr append to bounded buffers (output-buffer.ts). stdout over its
 *   cap stops the program (`OutputLimitExceeded` is thrown through the wasm stack, and is final
 *   like an exit: `WasiShim.outputLimitHit`); stderr over its cap is truncated and the program
 *   goes on.
 * - Clocks are virtual: realtime starts at `VIRTUAL_EPOCH_NS`, monotonic and the CPU-time clocks at
 *   0, every read advances them by `VIRTUAL_CLOCK_STEP_NS`, and `poll_oneoff` on a clock (what
 *   sleep() and nanosleep() become) returns at once and moves the clock forward by the timeout.
 * - `random_get` returns an AES-256-CTR keystream keyed by the 32-byte seed, so the same seed gives
 *   the same bytes in the same order (wasi-random.ts).
 * - stdio reports itself as non-terminal streams (so stdout is fully buffered the same way
 *   everywhere), `sched_yield` does nothing, sockets fail (ENOTSUP on an open fd, EBADF
 *   otherwise). Nothing here reads the host's clock, entropy, environment, fds or file system.
 * - Fuel (metered runs): every call costs `HOST_CALL_FUEL` on entry (the `charged` wrapper), and
 *   every byte it moves between the job's memory and the host `HOST_BYTE_FUEL`: stdin read,
 *   stdout/stderr written (buffer by buffer), and the file system's data, directory entries'
 *   bytes, paths and zero bytes; then per item: `HOST_IOVEC_FUEL` per iovec,
 *   `HOST_POLL_SUBSCRIPTION_FUEL` per subscription and `HOST_POLL_EVENT_FUEL` per event of
 *   poll_oneoff, `HOST_DIRENT_FUEL` per directory entry, `HOST_RANDOM_BYTE_FUEL` per random byte
 *   (wasi-fs.ts has the file calls' exact rule), each charged through the one `charge` hook
 *   before its effect (docs/protocol.md, "Fuel").
 */
import {
  DEFAULT_FS_LIMITS, VIRTUAL_CLOCK_RESOLUTION_NS, VIRTUAL_CLOCK_STEP_NS, VIRTUAL_EPOCH_NS, WASI_PREVIEW1_FUNCTIONS
} from './constants.ts'
import { FdTable } from './fd-table.ts'
import {
  HOST_BYTE_FUEL, HOST_CALL_FUEL, HOST_POLL_EVENT_FUEL, HOST_POLL_SUBSCRIPTION_FUEL, HOST_RANDOM_BYTE_FUEL
} from './metering/constants.ts'
import { GuestMemory } from './guest-memory.ts'
import { MemFs } from './memfs.ts'
import type { FsInput, FsLimits } from './memfs.ts'
import { OutputBuffer, OutputLimitExceeded } from './output-buffer.ts'
import { CLOCK_COUNT, CLOCK_REALTIME, ERRNO, EVENT_BYTES, EVENTTYPE_CLOCK, EVENTTYPE_FD_READ, EVENTTYPE_FD_WRITE, SUBCLOCKFLAGS_ABSTIME, SUBSCRIPTION_BYTES } from './wasi-defs.ts'
import type { Errno } from './wasi-defs.ts'
import { createWasiFs } from './wasi-fs.ts'
import { SeededRandom } from './wasi-random.ts'
import type { WasmMemory } from './wasm-api.ts'

/**
 * More subscriptions in one poll_oneoff are EINVAL (like poll() past RLIMIT_NOFILE): bounds one
 * call's work and the events it keeps in the heap. A program polls a few descriptors and a clock.
 */
export const MAX_POLL_SUBSCRIPTIONS = 4096

/** Thrown by `proc_exit` (and by every host call after it): unwinds the job with its exit code. */
export class ProcExit extends Error {
  readonly code: number
  constructor (code: number) {
    super(`exit ${code}`)
    this.name = 'ProcExit'
    this.code = code
  }
}

export interface WasiShimInit {
  memory: WasmMemory
  stdin: Uint8Array
  /** 32 bytes; keys the random stream. */
  seed: Uint8Array
  maxStdoutBytes: number
  maxStderrBytes: number
  /** `new WASI(...).getImportObject().wasi_snapshot_preview1` of a WASI built with the spec's args/env. */
  nodeWasi: Record<string, unknown>
  /** The files under /in (their bytes are used in place, never copied). Default: none. */
  files?: readonly FsInput[]
  /** Default: the executor's defaults (`DEFAULT_FS_LIMITS`). */
  limits?: FsLimits
  /**
   * The fuel hook of a metered run (metering/meter.ts `FuelMeter.charge`): adds fuel and throws
   * when that passes the limit. Every host function charges `HOST_CALL_FUEL` on entry,
   * `HOST_BYTE_FUEL` per byte it moves and its per-item fuel (iovecs, poll subscriptions and
   * events, directory entries, random bytes), each before its effect. Absent: nothing is charged, and
   * nothing else changes (the file system behaves the same with and without it).
   */
  charge?: (units: number) => void
  /**
   * Called when the job ends from inside a host call, before the exception that unwinds its stack
   * is thrown: `proc_exit` (after its fuel was charged) or stdout passing its cap (after the
   * buffer's bytes were charged). The meter stops its count there.
   */
  onExit?: () => void
}

export interface WasiShim {
  imports: Record<string, (...args: any[]) => unknown>
  stdout: OutputBuffer
  stderr: OutputBuffer
  /** The sandbox file system: what the job left in /out is read from it after the run. */
  fs: MemFs
  /** The code `proc_exit` was called with (i32, as node:wasi reports it), or undefined. */
  exitCode: () => number | undefined
  /** stdout passed its cap: the job ended there (trap 'output limit exceeded'), whatever ran after. */
  outputLimitHit: () => boolean
}

/** Builds a fresh import object for one run. */
export function createWasiShim (init: WasiShimInit): WasiShim {
  const { stdin } = init
  const charge = init.charge
  /** Charges `fuel` (nothing when not metered or it is 0). */
  const chargeFuel = charge === undefined
    ? (): void => {}
    : (fuel: number): void => { if (fuel > 0) charge(fuel) }
  /** Charges `n` bytes moved between the job's memory and the host. */
  const chargeBytes = (n: number): void => { chargeFuel(n * HOST_BYTE_FUEL) }
  const stdout = new OutputBuffer(init.maxStdoutBytes)
  const stderr = new OutputBuffer(init.maxStderrBytes)
  const m = new GuestMemory(init.memory)
  const limits = init.limits ?? DEFAULT_FS_LIMITS
  const fs = new MemFs(init.files ?? [], limits)
  const fds = new FdTable(limits.maxOpenFds)
  // 0-2 stdio, 3 /in, 4 /out (wasi-libc finds the preopens by scanning up from 3)
  fds.open({ kind: 'stream', stream: 0 })
  fds.open({ kind: 'stream', stream: 1 })
  fds.open({ kind: 'stream', stream: 2 })
  fds.open({ kind: 'dir', node: fs.in.root, preopen: '/in' })
  fds.open({ kind: 'dir', node: fs.out.root, preopen: '/out' })
  let stdinOffset = 0
  let ticksNs = 0n
  let random: SeededRandom | undefined // made at the first random_get (most programs never call it)

  const files = createWasiFs({
    memory: m,
    fs,
    fds,
    chargeFuel,
    chargeBytes,
    streams: {
      read (into: Uint8Array): number {
        const n = Math.min(into.byteLength, stdin.byteLength - stdinOffset)
        chargeBytes(n)
        into.set(stdin.subarray(stdinOffset, stdinOffset + n))
        stdinOffset += n
        return n
      },
      write (stream: 1 | 2, bytes: Uint8Array): void {
        chargeBytes(bytes.byteLength) // stderr past its cap too: the bytes were handed over
        if (!(stream === 1 ? stdout : stderr).write(bytes) && stream === 1) outputLimit()
      }
    }
  })

  const now = (clock: number): bigint => clock === CLOCK_REALTIME ? VIRTUAL_EPOCH_NS + ticksNs : ticksNs

  const ours: Record<string, (...args: any[]) => Errno> = {
    ...files,

    clock_res_get (clock: number, ptrArg: number): Errno {
      const ptr = ptrArg >>> 0
      if (clock < 0 || clock >= CLOCK_COUNT) return ERRNO.INVAL
      m.refresh()
      if (!m.inBounds(ptr, 8)) return ERRNO.FAULT
      m.view.setBigUint64(ptr, VIRTUAL_CLOCK_RESOLUTION_NS, true)
      return ERRNO.SUCCESS
    },

    clock_time_get (clock: number, _precision: bigint, ptrArg: number): Errno {
      const ptr = ptrArg >>> 0
      if (clock < 0 || clock >= CLOCK_COUNT) return ERRNO.INVAL
      m.refresh()
      if (!m.inBounds(ptr, 8)) return ERRNO.FAULT
      ticksNs += VIRTUAL_CLOCK_STEP_NS
      m.view.setBigUint64(ptr, now(clock), true)
      return ERRNO.SUCCESS
    },

    random_get (ptrArg: number, lenArg: number): Errno {
      const ptr = ptrArg >>> 0
      const len = lenArg >>> 0
      m.refresh()
      if (!m.inBounds(ptr, len)) return ERRNO.FAULT
      chargeFuel(len * HOST_RANDOM_BYTE_FUEL)
      random ??= new SeededRandom(init.seed)
      random.fill(m.bytes, ptr, len)
      return ERRNO.SUCCESS
    },

    /**
     * fd subscriptions are always ready (stdin and files are in memory, output never blocks) and
     * are reported without moving the clock; with none, the earliest clock subscription fires and
     * the virtual clocks jump to its deadline. Charges the subscriptions it reads
     * (`HOST_POLL_SUBSCRIPTION_FUEL` each) before reading them, and the events it writes
     * (`HOST_POLL_EVENT_FUEL` each) before its effect.
     */
    poll_oneoff (inArg: number, outArg: number, nsubsArg: number, neventsArg: number): Errno {
      const inPtr = inArg >>> 0
      const outPtr = outArg >>> 0
      const nsubs = nsubsArg >>> 0
      const neventsPtr = neventsArg >>> 0
      if (nsubs === 0 || nsubs > MAX_POLL_SUBSCRIPTIONS) return ERRNO.INVAL
      m.refresh()
      if (!m.inBounds(inPtr, nsubs * SUBSCRIPTION_BYTES) || !m.inBounds(outPtr, nsubs * EVENT_BYTES) || !m.inBounds(neventsPtr, 4)) return ERRNO.FAULT
      chargeFuel(nsubs * HOST_POLL_SUBSCRIPTION_FUEL)
      const { view } = m
      const events: Array<{ userdata: bigint, error: number, type: number, nbytes: bigint }> = []
      let earliest: { userdata: bigint, waitNs: bigint } | undefined
      for (let i = 0; i < nsubs; i++) {
        const sub = inPtr + i * SUBSCRIPTION_BYTES
        const userdata = view.getBigUint64(sub, true)
        const tag = view.getUint8(sub + 8)
        if (tag === EVENTTYPE_CLOCK) {
          const clock = view.getUint32(sub + 16, true)
          if (clock >= CLOCK_COUNT) {
            events.push({ userdata, error: ERRNO.INVAL, type: tag, nbytes: 0n })
            continue
          }
          const timeout = view.getBigUint64(sub + 24, true)
          const flags = view.getUint16(sub + 40, true)
          const deadline = (flags & SUBCLOCKFLAGS_ABSTIME) !== 0 ? timeout : now(clock) + timeout
          const waitNs = deadline > now(clock) ? deadline - now(clock) : 0n
          if (earliest === undefined || waitNs < earliest.waitNs) earliest = { userdata, waitNs }
        } else if (tag === EVENTTYPE_FD_READ || tag === EVENTTYPE_FD_WRITE) {
          const entry = fds.get(view.getUint32(sub + 16, true))
          let nbytes = -1n // not ready: EBADF
          if (tag === EVENTTYPE_FD_READ) {
            if (entry?.kind === 'stream' && entry.stream === 0) nbytes = BigInt(stdin.byteLength - stdinOffset)
            if (entry?.kind === 'file' && entry.read) nbytes = BigInt(Math.max(0, entry.node.data.size - entry.pos))
          } else {
            if (entry?.kind === 'stream' && entry.stream !== 0) nbytes = BigInt(entry.stream === 1 ? stdout.limit : stderr.limit)
            if (entry?.kind === 'file' && entry.write) nbytes = 0n
          }
          events.push({ userdata, error: nbytes >= 0n ? ERRNO.SUCCESS : ERRNO.BADF, type: tag, nbytes: nbytes >= 0n ? nbytes : 0n })
        } else {
          events.push({ userdata, error: ERRNO.INVAL, type: tag, nbytes: 0n })
        }
      }
      const fired = events.length === 0 ? earliest : undefined
      if (fired !== undefined) events.push({ userdata: fired.userdata, error: ERRNO.SUCCESS, type: EVENTTYPE_CLOCK, nbytes: 0n })
      chargeFuel(events.length * HOST_POLL_EVENT_FUEL) // before the clock moves: out of fuel changes nothing
      if (fired !== undefined) ticksNs += fired.waitNs
      m.bytes.fill(0, outPtr, outPtr + events.length * EVENT_BYTES)
      events.forEach((e, i) => {
        const ev = outPtr + i * EVENT_BYTES
        view.setBigUint64(ev, e.userdata, true)
        view.setUint16(ev + 8, e.error, true)
        view.setUint8(ev + 10, e.type)
        view.setBigUint64(ev + 16, e.nbytes, true)
      })
      view.setUint32(neventsPtr, events.length, true)
      return ERRNO.SUCCESS
    },

    sched_yield (): Errno { return ERRNO.SUCCESS },
    proc_raise (): Errno { return ERRNO.NOSYS }
  }

  let exit: number | undefined
  const procExit = (code: number): never => {
    exit = code
    init.onExit?.()
    throw new ProcExit(code)
  }
  // stdout's cap ends the job like an exit does: a module that catches the exception (catch_all)
  // does not run on as part of the job, and its later host calls unwind again
  let outputLimitHit = false
  function outputLimit (): never {
    outputLimitHit = true
    init.onExit?.()
    throw new OutputLimitExceeded()
  }

  const fromNode = ['args_get', 'args_sizes_get', 'environ_get', 'environ_sizes_get']
  const imports: Record<string, (...args: any[]) => unknown> = {}
  for (const name of WASI_PREVIEW1_FUNCTIONS) {
    if (name === 'proc_exit') {
      imports[name] = procExit
    } else if (fromNode.includes(name)) {
      imports[name] = init.nodeWasi[name] as (...args: any[]) => unknown
    } else if (name in ours) {
      imports[name] = guard(ours[name])
    } else {
      // sockets: the first argument is always an fd
      imports[name] = (fd: number) => fds.get(fd) === undefined ? ERRNO.BADF : ERRNO.NOTSUP
    }
    if (charge !== undefined) imports[name] = charged(imports[name], charge)
    imports[name] = unlessExited(imports[name])
  }
  return { imports, stdout, stderr, fs, exitCode: () => exit, outputLimitHit: () => outputLimitHit }

  /**
   * After proc_exit or stdout's cap, a host call (the module caught the exception) unwinds again,
   * with no effect and no charge.
   */
  function unlessExited (fn: (...args: any[]) => unknown): (...args: any[]) => unknown {
    return (...args) => {
      if (exit !== undefined) throw new ProcExit(exit)
      if (outputLimitHit) throw new OutputLimitExceeded()
      return fn(...args)
    }
  }
}

/** Charges `HOST_CALL_FUEL` before every call of a host function (the fuel hook, see `WasiShimInit.charge`). */
function charged (fn: (...args: any[]) => unknown, charge: (units: number) => void): (...args: any[]) => unknown {
  return (...args) => {
    charge(HOST_CALL_FUEL)
    return fn(...args)
  }
}

/**
 * A pointer the guest got wrong answers EFAULT instead of throwing out of the wasm stack. (Wasm
 * i32 arguments arrive signed; every pointer and length above is read with `>>> 0` first.)
 */
function guard (fn: (...args: any[]) => Errno): (...args: any[]) => Errno {
  return (...args) => {
    try {
      return fn(...args)
    } catch (err) {
      if (err instanceof RangeError) return ERRNO.FAULT
      throw err
    }
  }
}
