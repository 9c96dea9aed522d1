/**
 * The `wasi_snapshot_preview1` import object a job runs against (inside a worker thread).
 *
 * node:wasi supplies only what is already deterministic and host-free given our options:
 * `args_*`, `environ_*` (built from the spec, never from the host) and `proc_exit` (which is how
 * `returnOnExit` works). Every other preview1 function is ours:
 *
 * - stdin/stdout/stderr live in memory: `fd_read` on fd 0 copies from the spec's stdin,
 *   `fd_write` on fds 1 and 2 appends to bounded buffers (no temp files, no host fds).
 *   stdout over its cap stops the program (`OutputLimitExceeded` is thrown through the wasm
 *   stack); stderr over its cap is truncated and the program goes on.
 * - Clocks are virtual: realtime starts at `VIRTUAL_EPOCH_NS`, monotonic and the CPU-time clocks at
 *   0, every read advances them by `VIRTUAL_CLOCK_STEP_NS`, and `poll_oneoff` on a clock (what
 *   sleep() and nanosleep() become) returns at once and moves the clock forward by the timeout.
 * - `random_get` returns an AES-256-CTR keystream keyed by the 32-byte seed, so the same seed gives
 *   the same bytes in the same order.
 * - `fd_fdstat_get` reports fds 0-2 as non-terminal streams (so stdout is fully buffered the
 *   same way everywhere), `sched_yield` does nothing, and everything that would reach a file,
 *   directory or socket fails: EBADF for fds other than 0-2 (there are no preopens), ENOTSUP on
 *   0-2. Nothing here reads the host's clock, entropy, environment, fds or file system.
 * - Fuel (metered runs): every call costs `HOST_CALL_FUEL`, and every byte moved through fd_read,
 *   fd_write and random_get `HOST_BYTE_FUEL`, charged through the one `charge` hook before the
 *   effect (docs/protocol.md, "Fuel"). File-system calls are to charge the same way: the call on
 *   entry (done by the wrapper for every import), then the bytes they move (file data,
 *   directory entries, paths).
 */
import { createCipheriv } from 'node:crypto'
import {
  VIRTUAL_CLOCK_RESOLUTION_NS, VIRTUAL_CLOCK_STEP_NS, VIRTUAL_EPOCH_NS, WASI_PREVIEW1_FUNCTIONS
} from './constants.ts'
import { HOST_BYTE_FUEL, HOST_CALL_FUEL } from './metering/constants.ts'
import type { WasmMemory } from './wasm-api.ts'

/** Thrown from `fd_write` when stdout passes its cap; ends the run with trap 'output limit exceeded'. */
export class OutputLimitExceeded extends Error {
  constructor () {
    super('output limit exceeded')
    this.name = 'OutputLimitExceeded'
  }
}

// WASI preview1 errno values
const SUCCESS = 0
const EBADF = 8
const EFAULT = 21
const EINVAL = 28
const ENOSYS = 52
const ENOTSUP = 58
const ESPIPE = 70

const FILETYPE_UNKNOWN = 0
const RIGHT_FD_READ = 1n << 1n
const RIGHT_FD_WRITE = 1n << 6n
const RIGHT_POLL_FD_READWRITE = 1n << 27n

const EVENTTYPE_CLOCK = 0
const EVENTTYPE_FD_READ = 1
const EVENTTYPE_FD_WRITE = 2
const SUBCLOCKFLAGS_ABSTIME = 1
const SUBSCRIPTION_BYTES = 48
const EVENT_BYTES = 32
const CLOCK_REALTIME = 0
const CLOCK_COUNT = 4 // realtime, monotonic, process cputime, thread cputime

/** A bounded in-memory output stream. */
export class OutputBuffer {
  readonly limit: number
  truncated = false
  private buffer: Uint8Array
  private length = 0

  constructor (limit: number) {
    this.limit = limit
    this.buffer = new Uint8Array(Math.min(limit, 64 * 1024))
  }

  /** Appends what fits under the limit; returns false when some bytes did not fit. */
  write (bytes: Uint8Array): boolean {
    const room = this.limit - this.length
    const take = Math.min(room, bytes.byteLength)
    if (this.length + take > this.buffer.byteLength) {
      const grown = new Uint8Array(Math.min(this.limit, Math.max(this.buffer.byteLength * 2, this.length + take)))
      grown.set(this.buffer.subarray(0, this.length))
      this.buffer = grown
    }
    this.buffer.set(take === bytes.byteLength ? bytes : bytes.subarray(0, take), this.length)
    this.length += take
    if (take < bytes.byteLength) this.truncated = true
    return take === bytes.byteLength
  }

  /** Bytes written so far, with its own exact-size ArrayBuffer (transferable). */
  take (): Uint8Array {
    const out = new Uint8Array((this.buffer.buffer as ArrayBuffer).transfer(this.length))
    this.buffer = new Uint8Array(0)
    this.length = 0
    return out
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
  /**
   * The fuel hook of a metered run (metering/meter.ts `FuelMeter.charge`): adds fuel and throws
   * when that passes the limit. Every host function charges `HOST_CALL_FUEL` on entry and
   * `HOST_BYTE_FUEL` per byte it moves, each before its effect. Absent: nothing is charged.
   */
  charge?: (units: number) => void
}

export interface WasiShim {
  imports: Record<string, (...args: any[]) => unknown>
  stdout: OutputBuffer
  stderr: OutputBuffer
}

type Errno = number

/** Builds a fresh import object for one run. */
export function createWasiShim (init: WasiShimInit): WasiShim {
  const { memory, stdin } = init
  const charge = init.charge ?? ((): void => {})
  const stdout = new OutputBuffer(init.maxStdoutBytes)
  const stderr = new OutputBuffer(init.maxStderrBytes)
  const open = [true, true, true]
  let stdinOffset = 0
  let ticksNs = 0n
  const keystream = createCipheriv('aes-256-ctr', init.seed, new Uint8Array(16))

  let buffer = memory.buffer
  let view = new DataView(buffer)
  let bytes = new Uint8Array(buffer)
  /** Memory views, refreshed after `memory.grow` replaced the ArrayBuffer. */
  const mem = (): void => {
    if (memory.buffer !== buffer) {
      buffer = memory.buffer
      view = new DataView(buffer)
      bytes = new Uint8Array(buffer)
    }
  }
  const inBounds = (ptr: number, len: number): boolean => ptr + len <= bytes.byteLength

  const isOpen = (fd: number): boolean => fd >= 0 && fd < 3 && open[fd]
  /** What every file, directory and socket operation answers. */
  const unsupported = (fd: number): Errno => isOpen(fd) ? ENOTSUP : EBADF

  const now = (clock: number): bigint => clock === CLOCK_REALTIME ? VIRTUAL_EPOCH_NS + ticksNs : ticksNs

  const ours: Record<string, (...args: any[]) => Errno> = {
    fd_write (fd: number, iovsArg: number, iovsLenArg: number, nwrittenArg: number): Errno {
      const iovs = iovsArg >>> 0
      const iovsLen = iovsLenArg >>> 0
      const nwrittenPtr = nwrittenArg >>> 0
      if (fd !== 1 && fd !== 2) return EBADF
      if (!open[fd]) return EBADF
      mem()
      if (!inBounds(iovs, iovsLen * 8) || !inBounds(nwrittenPtr, 4)) return EFAULT
      const out = fd === 1 ? stdout : stderr
      let total = 0
      for (let i = 0; i < iovsLen; i++) {
        const ptr = view.getUint32(iovs + i * 8, true)
        const len = view.getUint32(iovs + i * 8 + 4, true)
        if (!inBounds(ptr, len)) return EFAULT
        charge(len * HOST_BYTE_FUEL)
        if (!out.write(bytes.subarray(ptr, ptr + len)) && fd === 1) throw new OutputLimitExceeded()
        total += len // stderr past its cap: the bytes are dropped but reported written
      }
      view.setUint32(nwrittenPtr, total, true)
      return SUCCESS
    },

    fd_read (fd: number, iovsArg: number, iovsLenArg: number, nreadArg: number): Errno {
      const iovs = iovsArg >>> 0
      const iovsLen = iovsLenArg >>> 0
      const nreadPtr = nreadArg >>> 0
      if (fd !== 0 || !open[0]) return EBADF
      mem()
      if (!inBounds(iovs, iovsLen * 8) || !inBounds(nreadPtr, 4)) return EFAULT
      let total = 0
      for (let i = 0; i < iovsLen && stdinOffset < stdin.byteLength; i++) {
        const ptr = view.getUint32(iovs + i * 8, true)
        const len = view.getUint32(iovs + i * 8 + 4, true)
        if (!inBounds(ptr, len)) return EFAULT
        const n = Math.min(len, stdin.byteLength - stdinOffset)
        charge(n * HOST_BYTE_FUEL)
        bytes.set(stdin.subarray(stdinOffset, stdinOffset + n), ptr)
        stdinOffset += n
        total += n
      }
      view.setUint32(nreadPtr, total, true)
      return SUCCESS
    },

    fd_fdstat_get (fd: number, ptrArg: number): Errno {
      const ptr = ptrArg >>> 0
      if (!isOpen(fd)) return EBADF
      mem()
      if (!inBounds(ptr, 24)) return EFAULT
      bytes.fill(0, ptr, ptr + 24)
      view.setUint8(ptr, FILETYPE_UNKNOWN)
      view.setBigUint64(ptr + 8, (fd === 0 ? RIGHT_FD_READ : RIGHT_FD_WRITE) | RIGHT_POLL_FD_READWRITE, true)
      return SUCCESS
    },

    fd_filestat_get (fd: number, ptrArg: number): Errno {
      const ptr = ptrArg >>> 0
      if (!isOpen(fd)) return EBADF
      mem()
      if (!inBounds(ptr, 64)) return EFAULT
      bytes.fill(0, ptr, ptr + 64) // dev, ino, filetype unknown, nlink, size, times: all 0
      return SUCCESS
    },

    fd_seek (fd: number): Errno { return isOpen(fd) ? ESPIPE : EBADF },
    fd_tell (fd: number): Errno { return isOpen(fd) ? ESPIPE : EBADF },
    fd_pread (fd: number): Errno { return isOpen(fd) ? ESPIPE : EBADF },
    fd_pwrite (fd: number): Errno { return isOpen(fd) ? ESPIPE : EBADF },

    fd_close (fd: number): Errno {
      if (!isOpen(fd)) return EBADF
      open[fd] = false
      return SUCCESS
    },

    // no preopened directories: the libc's scan of fds from 3 up stops at the first EBADF
    fd_prestat_get (): Errno { return EBADF },
    fd_prestat_dir_name (): Errno { return EBADF },

    clock_res_get (clock: number, ptrArg: number): Errno {
      const ptr = ptrArg >>> 0
      if (clock < 0 || clock >= CLOCK_COUNT) return EINVAL
      mem()
      if (!inBounds(ptr, 8)) return EFAULT
      view.setBigUint64(ptr, VIRTUAL_CLOCK_RESOLUTION_NS, true)
      return SUCCESS
    },

    clock_time_get (clock: number, _precision: bigint, ptrArg: number): Errno {
      const ptr = ptrArg >>> 0
      if (clock < 0 || clock >= CLOCK_COUNT) return EINVAL
      mem()
      if (!inBounds(ptr, 8)) return EFAULT
      ticksNs += VIRTUAL_CLOCK_STEP_NS
      view.setBigUint64(ptr, now(clock), true)
      return SUCCESS
    },

    random_get (ptrArg: number, lenArg: number): Errno {
      const ptr = ptrArg >>> 0
      const len = lenArg >>> 0
      mem()
      if (!inBounds(ptr, len)) return EFAULT
      charge(len * HOST_BYTE_FUEL)
      bytes.set(keystream.update(new Uint8Array(len)), ptr)
      return SUCCESS
    },

    /**
     * fd subscriptions on 0-2 are always ready (stdin is in memory, output never blocks) and are
     * reported without moving the clock; with none, the earliest clock subscription fires and
     * the virtual clocks jump to its deadline.
     */
    poll_oneoff (inArg: number, outArg: number, nsubsArg: number, neventsArg: number): Errno {
      const inPtr = inArg >>> 0
      const outPtr = outArg >>> 0
      const nsubs = nsubsArg >>> 0
      const neventsPtr = neventsArg >>> 0
      if (nsubs === 0) return EINVAL
      mem()
      if (!inBounds(inPtr, nsubs * SUBSCRIPTION_BYTES) || !inBounds(outPtr, nsubs * EVENT_BYTES) || !inBounds(neventsPtr, 4)) return EFAULT
      const events: Array<{ userdata: bigint, error: number, type: number, nbytes: bigint }> = []
      let earliest: { userdata: bigint, waitNs: bigint } | undefined
      for (let i = 0; i < nsubs; i++) {
        const sub = inPtr + i * SUBSCRIPTION_BYTES
        const userdata = view.getBigUint64(sub, true)
        const tag = view.getUint8(sub + 8)
        if (tag === EVENTTYPE_CLOCK) {
          const clock = view.getUint32(sub + 16, true)
          if (clock >= CLOCK_COUNT) {
            events.push({ userdata, error: EINVAL, type: tag, nbytes: 0n })
            continue
          }
          const timeout = view.getBigUint64(sub + 24, true)
          const flags = view.getUint16(sub + 40, true)
          const deadline = (flags & SUBCLOCKFLAGS_ABSTIME) !== 0 ? timeout : now(clock) + timeout
          const waitNs = deadline > now(clock) ? deadline - now(clock) : 0n
          if (earliest === undefined || waitNs < earliest.waitNs) earliest = { userdata, waitNs }
        } else if (tag === EVENTTYPE_FD_READ || tag === EVENTTYPE_FD_WRITE) {
          const fd = view.getUint32(sub + 16, true)
          const ready = isOpen(fd) && (tag === EVENTTYPE_FD_READ ? fd === 0 : fd !== 0)
          const nbytes = !ready
            ? 0n
            : tag === EVENTTYPE_FD_READ ? BigInt(stdin.byteLength - stdinOffset) : BigInt(fd === 1 ? stdout.limit : stderr.limit)
          events.push({ userdata, error: ready ? SUCCESS : EBADF, type: tag, nbytes })
        } else {
          events.push({ userdata, error: EINVAL, type: tag, nbytes: 0n })
        }
      }
      if (events.length === 0 && earliest !== undefined) {
        ticksNs += earliest.waitNs
        events.push({ userdata: earliest.userdata, error: SUCCESS, type: EVENTTYPE_CLOCK, nbytes: 0n })
      }
      bytes.fill(0, outPtr, outPtr + events.length * EVENT_BYTES)
      events.forEach((e, i) => {
        const ev = outPtr + i * EVENT_BYTES
        view.setBigUint64(ev, e.userdata, true)
        view.setUint16(ev + 8, e.error, true)
        view.setUint8(ev + 10, e.type)
        view.setBigUint64(ev + 16, e.nbytes, true)
      })
      view.setUint32(neventsPtr, events.length, true)
      return SUCCESS
    },

    sched_yield (): Errno { return SUCCESS },
    proc_raise (): Errno { return ENOSYS }
  }

  const fromNode = ['args_get', 'args_sizes_get', 'environ_get', 'environ_sizes_get', 'proc_exit']
  const imports: Record<string, (...args: any[]) => unknown> = {}
  for (const name of WASI_PREVIEW1_FUNCTIONS) {
    if (fromNode.includes(name)) {
      imports[name] = init.nodeWasi[name] as (...args: any[]) => unknown
    } else if (name in ours) {
      imports[name] = guard(ours[name])
    } else {
      // files, directories, sockets: the first argument is always an fd
      imports[name] = (fd: number) => unsupported(fd)
    }
    if (init.charge !== undefined) imports[name] = charged(imports[name], init.charge)
  }
  return { imports, stdout, stderr }
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
      if (err instanceof RangeError) return EFAULT
      throw err
    }
  }
}
