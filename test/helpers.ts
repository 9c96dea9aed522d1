/** Shared test helpers: polling with a deadline (never fixed sleeps), temp dirs. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createExecutor, type ExecResult, type Executor } from '../src/scheduler/executor/index.ts'

/**
 * Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`
 * with the last error or a description. The interval is a polling cadence, not a wait for a result.
 */
export async function waitFor<T> (check: () => T | undefined | false | Promise<T | undefined | false>, options: { timeoutMs?: number, intervalMs?: number, what?: string } = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (true) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'a condition'}${lastError != null ? `: ${(lastError as Error).message}` : ''}`)
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50))
  }
}

export async function tempDir (prefix = 'depin-test-'): Promise<{ path: string, remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: async () => { await rm(path, { recursive: true, force: true }) } }
}

/**
 * A test-only faulty executor: runs jobs for real (one worker thread), then rewrites each
 * result. A worker node given one returns wrong (but well-signed) results.
 */
export function resultRewritingExecutor (rewrite: (result: ExecResult) => ExecResult): Executor {
  const real = createExecutor({ workers: 1 })
  return {
    start: async () => { await real.start() },
    stop: async () => { await real.stop() },
    reportsStart: true,
    run: async (spec, options) => rewrite(await real.run(spec, options))
  }
}

/** A faulty executor that rewrites each result's stdout. */
export function outputRewritingExecutor (rewrite: (stdout: Uint8Array) => Uint8Array): Executor {
  return resultRewritingExecutor((result) => ({ ...result, stdout: rewrite(result.stdout) }))
}

/**
 * Publishes raw bytes on a gossipsub topic until the publish reaches at least one peer (or,
 * with `to`, that peer). Knowing a peer subscribes is not enough: the outbound stream to it may
 * not be open yet, and gossipsub then sends to nobody (and reports no recipient); nor can a test
 * rely on a relay through a mesh that is still forming. A publish that did not reach the peer
 * sent it nothing, so repeating it never gives that peer a duplicate.
 */
export async function publishUntilSent (pubsub: { publish: (topic: string, data: Uint8Array) => Promise<{ recipients: Array<{ toString: () => string }> }> }, topic: string, data: Uint8Array, options: { to?: string, timeoutMs?: number } = {}): Promise<number> {
  return await waitFor(async () => {
    const { recipients } = await pubsub.publish(topic, data)
    const reached = options.to == null ? recipients.length > 0 : recipients.some((r) => r.toString() === options.to)
    return reached ? recipients.length : undefined
  }, { timeoutMs: options.timeoutMs ?? 30_000, intervalMs: 50, what: `${options.to ?? 'a subscriber'} of ${topic} to receive a message` })
}
