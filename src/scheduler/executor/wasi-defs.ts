/**
 * Numbers of the WASI preview1 ABI used by the shim and the sandbox file system (from
 * wasi_snapshot_preview1.witx; the same values as wasi-libc's <wasi/api.h>, which is also what a
 * C program sees in `errno`).
 */

export type Errno = number

export const ERRNO = {
  SUCCESS: 0,
  BADF: 8,
  DQUOT: 19,
  EXIST: 20,
  FAULT: 21,
  FBIG: 22,
  ILSEQ: 25,
  INVAL: 28,
  ISDIR: 31,
  MFILE: 33,
  NAMETOOLONG: 37,
  NOENT: 44,
  NOMEM: 48,
  NOSPC: 51,
  NOSYS: 52,
  NOTDIR: 54,
  NOTEMPTY: 55,
  NOTSUP: 58,
  OVERFLOW: 61,
  ROFS: 69,
  SPIPE: 70,
  XDEV: 75,
  NOTCAPABLE: 76
} as const

export const FILETYPE = {
  UNKNOWN: 0,
  DIRECTORY: 3,
  REGULAR_FILE: 4
} as const

/** `oflags` of path_open. */
export const OFLAGS = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 } as const
/** `fdflags`. */
export const FDFLAGS = { APPEND: 1, DSYNC: 2, NONBLOCK: 4, RSYNC: 8, SYNC: 16 } as const
/** `whence` of fd_seek. */
export const WHENCE = { SET: 0, CUR: 1, END: 2 } as const

/** Rights bits. */
export const RIGHT = {
  FD_DATASYNC: 1n << 0n,
  FD_READ: 1n << 1n,
  FD_SEEK: 1n << 2n,
  FD_FDSTAT_SET_FLAGS: 1n << 3n,
  FD_SYNC: 1n << 4n,
  FD_TELL: 1n << 5n,
  FD_WRITE: 1n << 6n,
  FD_ADVISE: 1n << 7n,
  FD_ALLOCATE: 1n << 8n,
  FD_READDIR: 1n << 14n,
  FD_FILESTAT_GET: 1n << 21n,
  FD_FILESTAT_SET_SIZE: 1n << 22n,
  FD_FILESTAT_SET_TIMES: 1n << 23n,
  POLL_FD_READWRITE: 1n << 27n
} as const

/** Every right defined by preview1 (bits 0-29). */
export const ALL_RIGHTS = (1n << 30n) - 1n
/** Rights that change a file's contents: asking for one of them on /in is EROFS. */
export const WRITE_RIGHTS = RIGHT.FD_WRITE | RIGHT.FD_ALLOCATE | RIGHT.FD_FILESTAT_SET_SIZE
/** What a file descriptor reports, before its read/write access is masked in. */
export const FILE_BASE_RIGHTS = RIGHT.FD_SEEK | RIGHT.FD_FDSTAT_SET_FLAGS | RIGHT.FD_SYNC | RIGHT.FD_TELL |
  RIGHT.FD_ADVISE | RIGHT.FD_FILESTAT_GET | RIGHT.FD_FILESTAT_SET_TIMES | RIGHT.POLL_FD_READWRITE | RIGHT.FD_DATASYNC

export const PREOPENTYPE_DIR = 0
/** Bytes of a `filestat`. */
export const FILESTAT_BYTES = 64
/** Bytes of an `fdstat`. */
export const FDSTAT_BYTES = 24
/** Bytes of a `dirent` header (the name follows it). */
export const DIRENT_BYTES = 24

/** `eventtype` of a poll_oneoff subscription and event. */
export const EVENTTYPE_CLOCK = 0
export const EVENTTYPE_FD_READ = 1
export const EVENTTYPE_FD_WRITE = 2
/** `subclockflags`: the timeout is an absolute time. */
export const SUBCLOCKFLAGS_ABSTIME = 1
/** Bytes of a `subscription`, and of an `event`. */
export const SUBSCRIPTION_BYTES = 48
export const EVENT_BYTES = 32
/** `clockid`: realtime, then monotonic, process cputime, thread cputime. */
export const CLOCK_REALTIME = 0
export const CLOCK_COUNT = 4
