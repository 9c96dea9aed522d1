/**
 * The executor pool's settings: `ExecutorInit` with its defaults filled in and every value
 * checked once, when the pool is built (a ConfigError names the first bad one), so the run path
 * reads plain numbers.
 */
import { ConfigError } from '../../errors.ts'
import { MAX_MANIFEST_ENTRIES, MAX_PATH_BYTES } from '../files/constants.ts'
import {
  DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_OPEN_FDS, DEFAULT_MAX_OUT_BYTES, DEFAULT_MAX_OUT_FILES, DEFAULT_MAX_PATH_BYTES,
  DEFAULT_MAX_QUEUE, DEFAULT_MAX_STDERR_BYTES, DEFAULT_MAX_STDOUT_BYTES, DEFAULT_MODULE_CACHE_ENTRIES, MAX_FILE_BYTES, MAX_OPEN_FDS,
  MAX_MEMORY_MIB
} from './constants.ts'
import type { ExecutorInit } from './index.ts'
import type { FsLimits } from './memfs.ts'
import { WORKER_URL } from './worker-slot.ts'

export interface PoolConfig {
  /** Worker threads. */
  size: number
  maxQueue: number
  maxStdoutBytes: number
  maxStderrBytes: number
  maxMemoryMiB: number
  fsLimits: FsLimits
  metering: boolean
  moduleCacheEntries: number
  workerUrl: URL
}

/** The checked settings of a pool of `init.workers` workers; throws ConfigError for a bad value. */
export function poolConfig (init: ExecutorInit & { workers: number }): PoolConfig {
  const size = positiveInteger(init.workers, 'workers')
  const maxQueue = nonNegativeInteger(init.maxQueue ?? DEFAULT_MAX_QUEUE, 'maxQueue')
  const maxStdoutBytes = nonNegativeInteger(init.maxStdoutBytes ?? DEFAULT_MAX_STDOUT_BYTES, 'maxStdoutBytes')
  const maxStderrBytes = nonNegativeInteger(init.maxStderrBytes ?? DEFAULT_MAX_STDERR_BYTES, 'maxStderrBytes')
  const maxMemoryMiB = Math.min(positiveInteger(init.maxMemoryMiB ?? MAX_MEMORY_MIB, 'maxMemoryMiB'), MAX_MEMORY_MIB)
  const fsLimits: FsLimits = {
    maxOutBytes: nonNegativeInteger(init.maxOutBytes ?? DEFAULT_MAX_OUT_BYTES, 'maxOutBytes'),
    maxOutFiles: inRange(init.maxOutFiles ?? DEFAULT_MAX_OUT_FILES, 0, MAX_MANIFEST_ENTRIES, 'maxOutFiles'),
    maxFileBytes: inRange(init.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, 0, MAX_FILE_BYTES, 'maxFileBytes'),
    maxPathBytes: inRange(init.maxPathBytes ?? DEFAULT_MAX_PATH_BYTES, 1, MAX_PATH_BYTES, 'maxPathBytes'),
    // stdio and the two preopens take five
    maxOpenFds: inRange(init.maxOpenFds ?? DEFAULT_MAX_OPEN_FDS, 5, MAX_OPEN_FDS, 'maxOpenFds')
  }
  const workerUrl = init.workerUrl ?? WORKER_URL
  if (init.metering !== undefined && typeof init.metering !== 'boolean') throw new ConfigError(`executor metering must be a boolean, got ${String(init.metering)}`)
  const metering = init.metering ?? true
  const moduleCacheEntries = positiveInteger(init.moduleCacheEntries ?? DEFAULT_MODULE_CACHE_ENTRIES, 'moduleCacheEntries')
  return { size, maxQueue, maxStdoutBytes, maxStderrBytes, maxMemoryMiB, fsLimits, metering, moduleCacheEntries, workerUrl }
}

function inRange (value: number, min: number, max: number, name: string): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`executor ${name} must be an integer in ${min}..${max}, got ${value}`)
  }
  return value
}

function positiveInteger (value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(`executor ${name} must be a positive integer, got ${value}`)
  return value
}

function nonNegativeInteger (value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`executor ${name} must be a non-negative integer, got ${value}`)
  return value
}
