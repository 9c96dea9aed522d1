/**
 * The fuel rule's numbers. They are part of the protocol (docs/protocol.md, "Fuel"): every
 * worker must count with the same ones, or honest replicas disagree. Changing one is a protocol
 * change.
 */

/** Largest fuel amount (and fuel limit): fuel is an unsigned 64-bit count. */
export const MAX_FUEL = 2n ** 64n - 1n

/** Every export name starting with this is reserved for the executor; modules exporting one are refused. */
export const RESERVED_EXPORT_PREFIX = 'depin:'
/** Export of the instrumented module: the fuel used so far (mutable i64 global, read as unsigned). */
export const FUEL_USED_EXPORT = 'depin:fuel'
/** Export of the instrumented module: the fuel limit (mutable i64 global, unsigned; the host sets it before the run). */
export const FUEL_LIMIT_EXPORT = 'depin:fuel_limit'
/**
 * Export of the instrumented module: the module's start function. Instrumentation removes the
 * start section so that the start function runs after the host has set the limit (it runs right
 * after instantiation, before `_start`, exactly as the start section would have had it).
 */
export const START_EXPORT = 'depin:start'

/**
 * Weight of every instruction not listed in `ZERO_WEIGHT_OPCODES`: one unit of fuel.
 * Prefixed instructions (0xFC, 0xFD, 0xFE) weigh 1 as well (0xFB, GC, is refused).
 */
export const INSTRUCTION_FUEL = 1
/**
 * Single-byte opcodes that weigh 0: markers that do no work of their own (nop, block, loop,
 * else, try, catch, end, delegate, catch_all, try_table).
 */
export const ZERO_WEIGHT_OPCODES: ReadonlySet<number> = new Set([0x01, 0x02, 0x03, 0x05, 0x06, 0x07, 0x0b, 0x18, 0x19, 0x1f])

/**
 * Dynamic costs, charged just before the instruction from its count operand n (the i32 on top of
 * the stack, read as unsigned), on top of its weight:
 * - memory.fill, memory.copy, memory.init: n (n bytes), `BYTES_PER_FUEL_SHIFT`;
 * - table.grow, table.fill, table.copy, table.init: floor(n / 8) (n elements), `ELEMENTS_PER_FUEL_SHIFT`;
 * - memory.grow: n × 256 (n pages of 64 KiB, whether or not the grow succeeds), `FUEL_PER_PAGE_SHIFT`.
 */
/**
 * 0: one fuel per byte, the same price as a byte a host call moves (`HOST_BYTE_FUEL`). Measured
 * on the reference machine (AMD EPYC, AVX-512; ordinary code ~31 gigafuel per CPU-second by
 * fuel-rate.ts): memory.fill and memory.copy run at 20-40 GB per CPU-second out of cache (fresh
 * or 64 MiB-apart pages) and 100-170 GB in cache, so bulk ops now cost 0.7-5 times the fuel per
 * CPU-second of ordinary code. At 6 (one fuel per 64 bytes, before) they cost 1/84 of it, and a
 * job of bulk copies ran into its wall-clock timeout, unpaid, long before its fuel limit.
 */
export const BYTES_PER_FUEL_SHIFT = 0
export const ELEMENTS_PER_FUEL_SHIFT = 3
export const FUEL_PER_PAGE_SHIFT = 8

/**
 * Every call of a WASI function costs this much fuel (charged by the host, on top of the `call`'s
 * weight). Measured with bench/host-fuel.ts on the reference machine (AMD EPYC; ordinary code
 * ~30 gigafuel per CPU-second by fuel-rate.ts): a loop of one cheap call takes 60-440 ns of CPU
 * a call (sched_yield, args_sizes_get, clock_time_get, fd_tell, fd_close 60-90 ns; fd_fdstat_get,
 * fd_seek, fd_prestat_get, fd_filestat_get 90-125; random_get of 1 byte, fd_read/fd_write of one
 * empty iovec ~160; poll_oneoff on a clock ~245; fd_write of 0 iovecs ~305; a failing path_open
 * ~330; path_filestat_get ~440). At 5 000 those loops earn 0.39-2.7 times the fuel per
 * CPU-second of ordinary code. At 1 000 (before) they earned 0.04-0.55 times it, and a job
 * looping on host calls ran into its wall-clock timeout, unpaid, long before its fuel limit.
 */
export const HOST_CALL_FUEL = 5000
/**
 * Fuel per byte a WASI call moves between the job and the host: bytes written by fd_write,
 * read by fd_read (charged buffer by buffer, before the bytes move). A plain copy: 64 KiB to or
 * from a file in one call earns ~2.5 times ordinary code's fuel per CPU-second (bench/host-fuel.ts).
 */
export const HOST_BYTE_FUEL = 1

/*
 * Per-item host fuel: what one call does per entry of its arguments, which `HOST_CALL_FUEL`
 * does not scale with. Each was measured with bench/host-fuel.ts on the reference machine
 * (ordinary code ~30 gigafuel per CPU-second) with the call at its largest (1 024 iovecs, 4 096
 * subscriptions, 1 024 directory entries, 64 KiB of random bytes), where the item charge is
 * nearly all of the call's fuel. Charged (like bytes) once the call's checks pass and before
 * the items are read or the effect happens, from the arguments and the sandbox state only.
 */
/**
 * Fuel per iovec entry of fd_read, fd_write, fd_pread, fd_pwrite (empty ones too), in place of
 * its 8 bytes. A call of 1 024 empty iovecs takes ~5 µs (~140 fuel's worth an entry): at 8 it
 * earned 0.09 times ordinary code, at 128 ~0.9 times.
 */
export const HOST_IOVEC_FUEL = 128
/**
 * Fuel per subscription poll_oneoff reads, in place of its 48 bytes. 4 096 clock subscriptions
 * take ~75 µs (~540 fuel's worth each): at 48 they earned 0.09 times ordinary code, at 512 ~1.
 */
export const HOST_POLL_SUBSCRIPTION_FUEL = 512
/**
 * Fuel per event poll_oneoff reports, in place of its 32 bytes. 4 096 fd_read subscriptions, each
 * reporting an event, take ~140 µs (~1 000 fuel's worth a subscription and its event): at 48 + 32
 * they earned 0.08 times ordinary code, at 512 + 512 ~1.
 */
export const HOST_POLL_EVENT_FUEL = 512
/**
 * Fuel per directory entry fd_readdir places in the buffer (a cut last record too) or steps over
 * (an entry removed since the listing was taken), on top of the bytes it places (`HOST_BYTE_FUEL`
 * each). Placing an entry takes ~65 ns (~1 800 fuel's worth), stepping over one ~15 ns: at their
 * record's bytes (~28 fuel) they earned 0.02 and 0.07 times ordinary code (0.00 times placed,
 * before fd_readdir cached the names' bytes and wrote records in place); at 768 ~0.45 and ~2.
 */
export const HOST_DIRENT_FUEL = 768
/**
 * Fuel per byte random_get produces. The AES-256-CTR keystream takes ~0.27 ns a byte (~8 fuel's
 * worth): at 1 a 64 KiB request earned 0.13 times ordinary code, at 8 ~1.
 */
export const HOST_RANDOM_BYTE_FUEL = 8

/**
 * Largest instrumented module `instrumentModule` produces by default. Ordinary code grows by
 * about 40%; code made of nothing but tiny loops or branches grows up to about 6 times, and this
 * cap keeps such a module from taking the node's memory (a 64 MiB module of ordinary code gives
 * ~90 MiB). Past it the module is refused with `UnmeterableModuleError`.
 */
export const MAX_INSTRUMENTED_BYTES = 256 * 1024 * 1024

/**
 * The engine's own limits (V8 13.6, Node 24: wasm-limits.h, checked against WebAssembly.Module)
 * that instrumentation could push a valid module over: it adds two locals to every function, two
 * globals, two or three exports, and code to every body. A module whose instrumented form would
 * pass one is refused with `UnmeterableModuleError` (rather than failing to compile as
 * `InvalidModuleError` only when metered).
 */
/** Parameters plus locals of one function. */
export const V8_MAX_FUNCTION_LOCALS = 50_000
/** Globals (imported and defined). */
export const V8_MAX_GLOBALS = 1_000_000
/** Exports. */
export const V8_MAX_EXPORTS = 1_000_000
/** Bytes of one function body (its locals and code, without the size prefix). */
export const V8_MAX_FUNCTION_BYTES = 7_654_321

/** Functions processed between two yields to the event loop by `instrumentModuleAsync`. */
export const INSTRUMENT_YIELD_BYTES = 1024 * 1024

/** `ExecResult.trap` of a run stopped by its fuel limit. */
export const OUT_OF_FUEL_TRAP = 'out of fuel'
