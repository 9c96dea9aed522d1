/**
 * Entry of the `depin` command: parses, runs the command, and turns every error a user can cause
 * into one clear line on stderr and a non-zero exit (no stack traces for user mistakes).
 */
import { CommanderError } from 'commander'
import { DepinError } from '../errors.ts'
import { buildProgram, type CliActions } from './program.ts'
import { initCommand } from './commands/init.ts'
import { startCommand } from './commands/start.ts'
import { capacityCommand, peersCommand, statusCommand } from './commands/node-info.ts'
import { testnetCommand } from './commands/testnet.ts'
import { jobCommand, jobsCommand, submitCommand } from './commands/jobs.ts'
import { batchCommand, mapCommand } from './commands/map.ts'
import { balanceCommand, chainCommand, transferCommand } from './commands/ledger.ts'

export const actions: CliActions = {
  init: initCommand,
  start: startCommand,
  status: statusCommand,
  peers: peersCommand,
  capacity: capacityCommand,
  testnet: testnetCommand,
  submit: submitCommand,
  jobs: jobsCommand,
  job: jobCommand,
  map: mapCommand,
  batch: batchCommand,
  balance: balanceCommand,
  chain: chainCommand,
  transfer: transferCommand
}

/** Runs the CLI with `argv` (as in process.argv) and returns the exit code. */
export async function run (argv: string[]): Promise<number> {
  const program = buildProgram(actions)
  try {
    await program.parseAsync(argv)
    return 0
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed the message (or the help/version text).
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : (err.exitCode === 0 ? 0 : 2)
    }
    if (err instanceof DepinError) {
      process.stderr.write(`depin: ${err.message}\n`)
      return 1
    }
    const e = err as Error
    process.stderr.write(`depin: ${e.message ?? String(err)}\n`)
    if (process.env.DEBUG != null) process.stderr.write(`${e.stack ?? ''}\n`)
    return 1
  }
}
