/**
 * An executor whose worker threads start on the first job, not when the node starts.
 *
 * A node that never runs a task (a requester, an idle daemon, one of a hundred testnet nodes)
 * should not hold worker threads: each is a V8 isolate of its own, about 10 MB of RSS and more
 * once it has compiled a module. The first task pays the thread start-up (see bench/scale.ts for
 * the figure); every later one finds the pool running.
 */
import type { ExecResult, ExecSpec, Executor, RunOptions } from '../scheduler/executor/index.ts'
import { ExecutorStoppedError } from '../scheduler/executor/index.ts'

export class LazyExecutor implements Executor {
  private readonly inner: Executor
  private started = false
  private starting?: Promise<void>

  constructor (inner: Executor) {
    this.inner = inner
  }

  get reportsStart (): boolean { return this.inner.reportsStart === true }

  /** Marks the executor usable; the inner pool starts on the first `run()`. */
  async start (): Promise<void> {
    this.started = true
  }

  async stop (): Promise<void> {
    this.started = false
    const starting = this.starting
    this.starting = undefined
    if (starting != null) {
      await starting.catch(() => {})
      await this.inner.stop()
    }
  }

  async run (spec: ExecSpec, options?: RunOptions): Promise<ExecResult> {
    if (!this.started) throw new ExecutorStoppedError('the executor is not started')
    if (this.starting == null) {
      const starting = this.inner.start()
      this.starting = starting
      // A pool that failed to start is tried again by the next job.
      starting.catch(() => { if (this.starting === starting) this.starting = undefined })
    }
    await this.starting
    return await this.inner.run(spec, options)
  }

  /** True once the inner pool has been asked to start. */
  get poolStarted (): boolean {
    return this.starting != null
  }
}
