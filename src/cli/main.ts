/**
 * Entry of the `depin` command: parses, runs the command, and turns every error a user can cause
 * into one clear line on stderr and a non-zero exit (no stack traces for user mistakes).
 *
 * Each command's code is imported only when it runs: a client command (status, jobs, …) loads
 * the HTTP client and nothing of libp2p, the ledger or the executor.
 */
import { CommanderError } from 'commander'
import { DepinError } from '../errors.ts'
import { printable } from './printable.ts'
import { stdoutErrorAction } from './interrupt.ts'
import { buildProgram, type CliActions } from './program.ts'

export const actions: CliActions = {
  init: async (o) => { await (await import('./commands/init.ts')).initCommand(o) },
  start: async (o) => {
    // Size mode before the daemon's modules load: code V8 optimised while they load and the node
    // starts would keep its optimising compilers paged in and its optimised code for the
    // daemon's whole life (about 6 MiB of an idle daemon; src/node/v8-mode.ts).
    const { enterSizeMode } = await import('../node/v8-mode.ts')
    enterSizeMode()
    await (await import('./commands/start.ts')).startCommand(o)
  },
  stop: async (o) => { await (await import('./commands/stop.ts')).stopCommand(o) },
  status: async (o) => { await (await import('./commands/status.ts')).statusCommand(o) },
  peers: async (o) => { await (await import('./commands/peers.ts')).peersCommand(o) },
  capacity: async (o) => { await (await import('./commands/capacity.ts')).capacityCommand(o) },
  testnet: async (o) => { await (await import('./commands/testnet.ts')).testnetCommand(o) },
  submit: async (m, o) => { await (await import('./commands/submit.ts')).submitCommand(m, o) },
  jobs: async (o) => { await (await import('./commands/jobs.ts')).jobsCommand(o) },
  job: async (id, o) => { await (await import('./commands/job.ts')).jobCommand(id, o) },
  cancel: async (id, o) => { await (await import('./commands/cancel.ts')).cancelCommand(id, o) },
  map: async (m, i, o) => { await (await import('./commands/map.ts')).mapCommand(m, i, o) },
  batch: async (id, o) => { await (await import('./commands/batch.ts')).batchCommand(id, o) },
  batches: async (o) => { await (await import('./commands/batch.ts')).batchesCommand(o) },
  balance: async (p, o) => { await (await import('./commands/balance.ts')).balanceCommand(p, o) },
  chain: async (o) => { await (await import('./commands/chain.ts')).chainCommand(o) },
  transfer: async (p, a, o) => { await (await import('./commands/transfer.ts')).transferCommand(p, a, o) },
  configShow: async (o) => { await (await import('./commands/config.ts')).configShowCommand(o) },
  configSet: async (k, v, o) => { await (await import('./commands/config.ts')).configSetCommand(k, v, o) },
  configUnset: async (k, o) => { await (await import('./commands/config.ts')).configUnsetCommand(k, o) },
  dashboard: async (o) => { await (await import('./commands/dashboard.ts')).dashboardCommand(o) },
  version: async (o) => { await (await import('./commands/version.ts')).versionCommand(o) }
}

/** Runs the CLI with `argv` (as in process.argv) and returns the exit code. */
export async function run (argv: string[]): Promise<number> {
  // Output piped into a reader that stops early (`depin jobs | head`): stop quietly, as other
  // command-line tools do, instead of an unhandled EPIPE with a stack trace.
  // (`depin start` and `depin testnet` go on: see goOnWithoutStdout)
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    const action = stdoutErrorAction(err)
    if (action === 'exit') process.exit(0)
    if (action === 'throw') throw err
  })
  const program = buildProgram(actions)
  try {
    await program.parseAsync(argv)
    // (a command that ended well but not cleanly said so: `start` after an uncaught exception, or a stop that failed)
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed the message (or the help/version text).
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : (err.exitCode === 0 ? 0 : 2)
    }
    if (err instanceof DepinError) {
      // One line, whatever a daemon or a worker put in it (an error may quote a trap or a file name).
      process.stderr.write(`depin: ${printable(err.message)}\n`)
      return 1
    }
    const e = err as Error
    process.stderr.write(`depin: ${printable(e.message ?? String(err))}\n`)
    if (process.env.DEBUG != null) process.stderr.write(`${e.stack ?? ''}\n`)
    return 1
  }
}
