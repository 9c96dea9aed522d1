/** Defaults and fixed values of the WASI executor. Units are in the names. */

/** Default cap on the bytes a job may write to stdout; past it the job is stopped (see ExecResult). */
export const DEFAULT_MAX_STDOUT_BYTES = 16 * 1024 * 1024
/** Default cap on the bytes a job may write to stderr; past it stderr is truncated, the job goes on. */
export const DEFAULT_MAX_STDERR_BYTES = 1024 * 1024
/** Default cap on the total bytes of the files a job leaves in /out (ENOSPC past it). */
export const DEFAULT_MAX_OUT_BYTES = 1024 * 1024 * 1024
/** Default cap on the files and directories a job may create in /out (EDQUOT past it). */
export const DEFAULT_MAX_OUT_FILES = 10_000
/** Default cap on the size of one file (EFBIG past it). */
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024
/** Default longest path a job may use or create, UTF-8 bytes from /in or /out (ENAMETOOLONG past it). */
export const DEFAULT_MAX_PATH_BYTES = 4096
/** Default number of descriptors a job may hold open, stdio and the two preopens included (EMFILE past it). */
export const DEFAULT_MAX_OPEN_FDS = 1024
/** Largest `maxFileBytes` an executor accepts (each large file is one resizable buffer of at most this). */
export const MAX_FILE_BYTES = 4 * 1024 * 1024 * 1024
/**
 * Most names that directory listings (fd_readdir) may hold at once in one job, for all its open
 * directory descriptors together (ENOMEM past it): bounds the worker heap a job can fill with them.
 */
export const MAX_LISTING_ENTRIES = 1_000_000
/** Largest `maxOpenFds` an executor accepts. */
export const MAX_OPEN_FDS = 65_536
/** The sandbox file system's limits when nothing else is configured. */
export const DEFAULT_FS_LIMITS = Object.freeze({
  maxOutBytes: DEFAULT_MAX_OUT_BYTES,
  maxOutFiles: DEFAULT_MAX_OUT_FILES,
  maxFileBytes: DEFAULT_MAX_FILE_BYTES,
  maxPathBytes: DEFAULT_MAX_PATH_BYTES,
  maxOpenFds: DEFAULT_MAX_OPEN_FDS
})
/** Default number of jobs that may wait (compiling or queued) on top of the ones running. */
export const DEFAULT_MAX_QUEUE = 256
/** Default number of compiled modules kept, least recently used evicted first. */
export const DEFAULT_MODULE_CACHE_ENTRIES = 32
/** Largest memory a job may ask for: the whole 32-bit WebAssembly address space. */
export const MAX_MEMORY_MIB = 4096
/** How long `start()` waits for a worker thread to report that it is ready. */
export const WORKER_START_TIMEOUT_MS = 30_000
/**
 * JS heap of a worker thread, before the file system's share. Wasm memory and file bytes are not
 * part of it (they are capped separately).
 */
export const WORKER_MAX_OLD_GENERATION_MIB = 64
/**
 * Heap a worker reserves per file a job may create in /out (`maxOutFiles`): the file system's
 * bookkeeping and the output manifest take about 0.8 KiB per file (measured with 100,000 files).
 */
export const WORKER_HEAP_BYTES_PER_OUT_FILE = 1536
/** JS young generation of a worker thread. */
export const WORKER_MAX_YOUNG_GENERATION_MIB = 16

/** Bytes in one WebAssembly page. */
export const WASM_PAGE_BYTES = 65536
/** WebAssembly pages in one MiB. */
export const PAGES_PER_MIB = (1024 * 1024) / WASM_PAGE_BYTES
/** The only import module a job may use (besides its one imported memory). */
export const WASI_MODULE = 'wasi_snapshot_preview1'
/**
 * Where a rewritten module imports its memory from: a module that defines its own memory is
 * rewritten to import it instead, so the executor hands it a `WebAssembly.Memory` whose
 * `maximum` is the job's cap (see wasm-module.ts).
 */
export const MEMORY_IMPORT_MODULE = 'depin'
export const MEMORY_IMPORT_NAME = 'memory'

/** argv[0] of every job; the spec's args follow it. */
export const PROGRAM_NAME = 'job.wasm'
/** Largest total of args and env (UTF-8 bytes, NULs included) a spec may carry, like the OS's ARG_MAX. */
export const MAX_ARGS_ENV_BYTES = 1024 * 1024
/** Length in bytes of `ExecSpec.seed`. */
export const SEED_BYTES = 32

/** The virtual realtime clock starts at 2024-01-01T00:00:00Z, in nanoseconds. */
export const VIRTUAL_EPOCH_NS = 1_704_067_200_000_000_000n
/** Every read of a virtual clock advances it by this much, so time moves but deterministically. */
export const VIRTUAL_CLOCK_STEP_NS = 1000n
/** What `clock_res_get` reports for every clock. */
export const VIRTUAL_CLOCK_RESOLUTION_NS = 1000n

/** Every function of WASI preview1. A module may import these (and only these) from `WASI_MODULE`. */
export const WASI_PREVIEW1_FUNCTIONS: ReadonlySet<string> = new Set([
  'args_get', 'args_sizes_get', 'environ_get', 'environ_sizes_get',
  'clock_res_get', 'clock_time_get',
  'fd_advise', 'fd_allocate', 'fd_close', 'fd_datasync', 'fd_fdstat_get', 'fd_fdstat_set_flags',
  'fd_fdstat_set_rights', 'fd_filestat_get', 'fd_filestat_set_size', 'fd_filestat_set_times',
  'fd_pread', 'fd_prestat_get', 'fd_prestat_dir_name', 'fd_pwrite', 'fd_read', 'fd_readdir',
  'fd_renumber', 'fd_seek', 'fd_sync', 'fd_tell', 'fd_write',
  'path_create_directory', 'path_filestat_get', 'path_filestat_set_times', 'path_link', 'path_open',
  'path_readlink', 'path_remove_directory', 'path_rename', 'path_symlink', 'path_unlink_file',
  'poll_oneoff', 'proc_exit', 'proc_raise', 'random_get', 'sched_yield',
  'sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown'
])
