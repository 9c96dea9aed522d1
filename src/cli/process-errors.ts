/**
 * What a running daemon does with a bug's error that nothing caught: Node's default ends the
 * process at once, printing the stack to a stderr nobody may be reading (a daemon under
 * `depin testnet`, a supervisor), leaving the operator's log without a word and the node
 * unstopped (its API address file left behind, its leases not settled).
 *
 * - A promise that failed with nobody waiting on it (an unhandled rejection: one operation of
 *   one component failed, often inside a dependency) is logged as an error, with its stack, and
 *   the node goes on, as Node did before version 15.
 * - An exception thrown up to the event loop leaves no guarantee about the state it interrupted
 *   (Node's documentation: not safe to resume), so the node is stopped cleanly and exits 1 for
 *   its supervisor to restart it; the stop's own deadline still applies.
 */
export interface ProcessErrorHooks {
  rejection: (reason: unknown) => void
  uncaught: (err: unknown) => void
}

/** Listens for both; returns the function that stops listening. */
export function watchProcessErrors (hooks: ProcessErrorHooks): () => void {
  const onRejection = (reason: unknown): void => { hooks.rejection(reason) }
  const onUncaught = (err: unknown): void => { hooks.uncaught(err) }
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onUncaught)
  return () => {
    process.off('unhandledRejection', onRejection)
    process.off('uncaughtException', onUncaught)
  }
}

/** An error's stack (its message when it has none), for a line on stderr. */
export function errorText (err: unknown): string {
  const fields = errorFields(err)
  return fields.stack ?? fields.message
}

/** An error's message, code, name and stack for a log line (whatever was thrown). */
export function errorFields (err: unknown): { message: string, name?: string, code?: string, stack?: string } {
  if (!(err instanceof Error)) return { message: String(err) }
  const code = (err as { code?: unknown }).code
  return { message: err.message, name: err.name, ...(typeof code === 'string' ? { code } : {}), ...(err.stack != null ? { stack: err.stack } : {}) }
}
