/**
 * The `depin` command line: every command, option and default in one place. Building the
 * program is pure: actions are injected, so tests parse argv without starting anything, and
 * main.ts loads each command's code only when that command runs (a client command never loads
 * libp2p or the executor).
 *
 * Adding a command: its options type and an `actions` entry here, its code in
 * commands/<name>.ts, one lazy import in main.ts, its line in the README.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { DEFAULT_API_HOST, DEFAULT_API_PORT, DEFAULT_LISTEN, TESTNET_MAX_NODES, TESTNET_PROCESS_NODES_MAX } from '../node/constants.ts'
import { JOB_STATES } from '../job-status.ts'
import { VERSION } from '../version.ts'
import { apiAddressArg, checkMultiaddrs, collect, collectPaths, durationArg, fraction, fuelArg, integer, metricsAddressArg, multiaddrArg, oneOf, pathArg, peerIdArg, runtimeArg } from './parse.ts'

/** A command-line mistake found in the action (a combination of options): one line, exit 2, before anything is sent. */
function usageError (command: Command, message: string): never {
  command.error(`error: ${message}`, { code: 'commander.invalidArgument', exitCode: 2 })
}

/**
 * `-o FILE` inside `--out DIR` (or DIR itself): the job's files and its stdout would overwrite
 * each other there. Refused before anything is sent (exit 2), by the paths alone.
 */
function refuseOutputInsideOut (command: Command, opts: { output?: string, out?: string }): void {
  if (opts.output == null || opts.out == null) return
  const inside = relative(resolve(opts.out), resolve(opts.output))
  if (inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) return
  usageError(command, `-o ${opts.output} is inside --out ${opts.out}: the job's files written there and its output could overwrite each other; give -o a path outside ${opts.out}`)
}

export interface CommonOptions {
  dataDir?: string
  api?: string
  json?: boolean
}

export interface InitOptions { dataDir?: string, listen?: string[], api?: string, force?: boolean, json?: boolean }
export interface StartOptions {
  dataDir?: string
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  api?: string
  cores?: number
  memory?: number
  price?: number
  slots?: number
  mine?: boolean
  spotCheck?: number
  /** Undefined unless `--no-mdns` was given (then false): the environment and config decide. */
  mdns?: boolean
  metrics?: string
  logLevel?: string
  logFormat?: string
  logFile?: string
}
export interface StopOptions extends CommonOptions { timeout?: number }
export interface CapacityOptions extends CommonOptions {
  runtime?: string
  minCores?: number
  minMemory?: number
  maxPrice?: number
  limit?: number
}
export interface PeersOptions extends CommonOptions { connect?: string }
export interface SubmitOptions extends CommonOptions {
  input?: string
  arg?: string[]
  env?: string[]
  replicas?: number
  quorum?: number
  maxPrice?: number
  timeout?: number
  memory?: number
  peer?: string[]
  spotCheck?: boolean
  wait?: boolean
  output?: string
  /** Files and directory trees to put under /in (`--in`, repeatable). */
  in?: string[]
  /** Directory for the files the job leaves in /out (implies waiting). */
  out?: string
  /** Fuel limit, decimal (0..2^64-1). */
  fuel?: string
}
export interface MapOptions extends CommonOptions {
  out: string
  arg?: string[]
  replicas?: number
  maxPrice?: number
  timeout?: number
  memory?: number
  /** Files and directory trees every task finds under /in. */
  in?: string[]
  /** Fuel limit of each task, decimal. */
  fuel?: string
}
export interface JobsOptions extends CommonOptions {
  status?: string
  role?: 'requester' | 'worker'
  limit?: number
  prune?: boolean
  /** Milliseconds (parsed from a duration). */
  olderThan?: number
}
export interface BatchesOptions extends CommonOptions { limit?: number }
export interface BatchOptions extends CommonOptions { out?: string }
export interface JobOptions extends CommonOptions { output?: string, out?: string, wait?: boolean, follow?: boolean }
export interface ChainOptions extends CommonOptions { blocks?: number }
export interface ConfigOptions { dataDir?: string, json?: boolean }
export type DashboardOptions = CommonOptions
export interface TestnetOptions { nodes: number, dir?: string, basePort?: number, mine?: boolean, json?: boolean, transport?: 'tcp' | 'memory' }

/** What each command does; main.ts supplies the real ones, tests supply recorders. */
export interface CliActions {
  init(options: InitOptions): Promise<void>
  start(options: StartOptions): Promise<void>
  stop(options: StopOptions): Promise<void>
  status(options: CommonOptions): Promise<void>
  peers(options: PeersOptions): Promise<void>
  capacity(options: CapacityOptions): Promise<void>
  testnet(options: TestnetOptions): Promise<void>
  submit(module: string, options: SubmitOptions): Promise<void>
  jobs(options: JobsOptions): Promise<void>
  job(id: string, options: JobOptions): Promise<void>
  map(module: string, inputs: string[], options: MapOptions): Promise<void>
  batch(id: string, options: BatchOptions): Promise<void>
  batches(options: BatchesOptions): Promise<void>
  cancel(id: string, options: CommonOptions): Promise<void>
  balance(peer: string | undefined, options: CommonOptions): Promise<void>
  chain(options: ChainOptions): Promise<void>
  transfer(peer: string, amount: number, options: CommonOptions): Promise<void>
  configShow(options: ConfigOptions): Promise<void>
  configSet(key: string, value: string, options: ConfigOptions): Promise<void>
  configUnset(key: string, options: ConfigOptions): Promise<void>
  dashboard(options: DashboardOptions): Promise<void>
  version(options: { json?: boolean }): Promise<void>
}

const DATA_DIR_HELP = 'data directory (default: $DEPIN_DATA_DIR or ~/.depin)'
const API_HELP = `local API address HOST:PORT (default: what the daemon wrote in the data dir, else ${DEFAULT_API_HOST}:${DEFAULT_API_PORT}; or $DEPIN_API)`
export const LOG_LEVEL_WORDS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export const LOG_FORMAT_WORDS = ['text', 'json'] as const

/** Adds the options every client command shares. */
function clientCommand (parent: Command, name: string, description: string): Command {
  return parent.command(name)
    .description(description)
    .option('--data-dir <dir>', DATA_DIR_HELP, pathArg)
    .option('--api <host:port>', API_HELP, apiAddressArg)
    .option('--json', 'print JSON instead of text')
}

/** Fails the command (a CommanderError, one line) when a multiaddr option is not a multiaddr (or a bootstrap one has no /p2p/<id>). */
function checkAddressesFirst (command: Command, options: string[]): Command {
  return command.hook('preAction', async (_root, action) => {
    const opts = action.opts() as Record<string, string | string[] | undefined>
    for (const name of options) {
      const v = opts[name]
      const values = v == null ? [] : Array.isArray(v) ? v : [v]
      try {
        await checkMultiaddrs(values, { peerId: name === 'bootstrap' })
      } catch (err) {
        if (err instanceof InvalidArgumentError) action.error(`error: ${err.message}`, { code: 'commander.invalidArgument', exitCode: 2 })
        throw err
      }
    }
  })
}

export function buildProgram (actions: CliActions): Command {
  const program = new Command('depin')
    .description('depin: a peer-to-peer compute-sharing node. Run WebAssembly jobs on other peers, run theirs, keep a shared ledger of credits.')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    .allowExcessArguments(false)
    .configureHelp({ sortOptions: false })
    .exitOverride()
    // One style for every error line: "depin: <what went wrong>".
    .configureOutput({ outputError: (text, write) => { write(`depin: ${text.replace(/^error: /, '')}`) } })

  checkAddressesFirst(program.command('init'), ['listen'])
    .description('create the data directory: identity key (0600), config.json and API token')
    .option('--data-dir <dir>', DATA_DIR_HELP, pathArg)
    .option('--listen <multiaddr>', `libp2p listen address to write into config.json, repeatable (default: ${DEFAULT_LISTEN})`, multiaddrArg)
    .option('--api <host:port>', `local API address to write into config.json (default: ${DEFAULT_API_HOST}:${DEFAULT_API_PORT})`, apiAddressArg)
    .option('--force', 'rewrite config.json if it exists (the identity is never replaced)')
    .option('--json', 'print JSON')
    .action(async (opts: InitOptions) => { await actions.init(opts) })

  checkAddressesFirst(program.command('start'), ['listen', 'announce', 'bootstrap'])
    .description('run the node in the foreground until SIGINT/SIGTERM/SIGHUP or `depin stop`; every option also comes from $DEPIN_<NAME> (e.g. DEPIN_CORES), then config.json')
    .option('--data-dir <dir>', DATA_DIR_HELP, pathArg)
    .option('--listen <multiaddr>', 'libp2p listen address, repeatable (env DEPIN_LISTEN, comma-separated; default: from config.json)', multiaddrArg)
    .option('--announce <multiaddr>', 'address to announce instead of the listen addresses, repeatable (env DEPIN_ANNOUNCE)', multiaddrArg)
    .option('--bootstrap <multiaddr>', 'peer to connect to at start (with /p2p/<id>), repeatable (env DEPIN_BOOTSTRAP)', multiaddrArg)
    .option('--api <host:port>', `local API address (env DEPIN_API; default: from config.json, else ${DEFAULT_API_HOST}:${DEFAULT_API_PORT})`, apiAddressArg)
    .option('--cores <n>', 'cores to offer (env DEPIN_CORES; default: all)', integer(1, 4096))
    .option('--memory <mib>', 'memory to offer in MiB (env DEPIN_MEMORY; default: half of total, at most what is free)', integer(16, 16 * 1024 * 1024))
    .option('--price <p>', 'price in credits per gigafuel, 10^9 units of fuel (env DEPIN_PRICE; default: 1)', integer(0, 1_000_000_000))
    .option('--slots <n>', 'jobs run at once (env DEPIN_SLOTS; default: cores)', integer(0, 4096))
    .option('--mine', 'mine ledger blocks (env DEPIN_MINE=true)')
    .option('--spot-check <rate>', 'probability (0 to 1) of re-running a job this node submits locally to check its workers (env DEPIN_SPOT_CHECK; default: 0)', fraction)
    .option('--no-mdns', 'do not discover peers on the LAN with mDNS (env DEPIN_MDNS=false)')
    .option('--metrics <host:port>', 'also serve GET /metrics without a token on this loopback address, for a Prometheus scraper (env DEPIN_METRICS)', metricsAddressArg)
    .addOption(new Option('--log-level <level>', 'operator log level (env DEPIN_LOG_LEVEL; default: info)').argParser(oneOf(LOG_LEVEL_WORDS)))
    .addOption(new Option('--log-format <format>', 'operator log format: text or json (env DEPIN_LOG_FORMAT; default: text)').argParser(oneOf(LOG_FORMAT_WORDS)))
    .option('--log-file <path>', 'append the operator log to this file instead of stdout (env DEPIN_LOG_FILE)', pathArg)
    .action(async (opts: StartOptions, command: Command) => {
      // `--no-mdns` defaults mdns to true; only an explicit flag should beat env and config.
      if (command.getOptionValueSource('mdns') !== 'cli') delete opts.mdns
      await actions.start(opts)
    })

  clientCommand(program, 'stop', 'stop the running daemon through its API and wait until it has stopped')
    .option('--timeout <s>', 'how long to wait for it to stop (default: 60)', integer(1, 3600))
    .action(async (opts: StopOptions) => { await actions.stop(opts) })

  clientCommand(program, 'status', 'show the running node: peer id, addresses, peers, capacity')
    .action(async (opts: CommonOptions) => { await actions.status(opts) })

  checkAddressesFirst(clientCommand(program, 'peers', 'list connected peers'), ['connect'])
    .option('--connect <multiaddr>', 'connect to a peer first (multiaddr with /p2p/<id>)')
    .action(async (opts: PeersOptions) => { await actions.peers(opts) })

  clientCommand(program, 'capacity', 'show this node\'s capacity and find capable peers (through the DHT and connected peers)')
    .option('--runtime <name>', 'runtime the peers must offer', runtimeArg, 'wasi-p1')
    .option('--min-cores <n>', 'only peers with at least this many cores', integer(1, 4096))
    .option('--min-memory <mib>', 'only peers offering at least this much memory', integer(1))
    .option('--max-price <p>', 'only peers at or under this price (credits per gigafuel)', integer(0))
    .option('--limit <n>', 'stop after this many peers', integer(1, 1000))
    .action(async (opts: CapacityOptions) => { await actions.capacity(opts) })

  clientCommand(program, 'submit', 'submit a WebAssembly (WASI) job to the network')
    .argument('<module.wasm>', 'the WASI preview1 module to run (checked here first: WebAssembly, at most 64 MiB)')
    .option('--input <file>', 'bytes for the program\'s stdin (- reads this command\'s stdin)', pathArg)
    .option('--arg <a>', 'argument for the program, repeatable', collect)
    .option('--env <name=value>', 'environment variable for the program, repeatable', collect)
    .option('--replicas <k>', 'distinct workers that run it (default: 1)', integer(1, 16))
    .option('--quorum <q>', 'matching outputs needed to verify it (default: majority of replicas)', integer(1, 16))
    .option('--max-price <p>', 'highest price in credits per gigafuel, 10^9 units of fuel (default: 10)', integer(0))
    .option('--timeout <s>', 'wall-time limit of one run in seconds (default: 30)', integer(1, 86_400))
    .option('--memory <mib>', 'memory limit in MiB (default: 256)', integer(1, 4096))
    .option('--fuel <n>', 'fuel limit of one run, 0 to 2^64-1: the run stops with trap `out of fuel` at exactly this count (default: 10^8 per ms of --timeout)', fuelArg)
    .option('--in <path>', 'a file or directory tree the program finds at /in/<its name>, read-only; repeatable', collectPaths)
    .option('--out <dir>', 'write the files the program leaves in /out into DIR, same paths (waits for the job; DIR is created if missing)', pathArg)
    .option('--peer <id>', 'run only on this peer, repeatable', collect)
    .option('--spot-check', 'also run the job on this node and pay the workers only if they agree with it')
    .option('--wait', 'wait for the result, showing progress; print the output')
    .option('-o, --output <file>', 'write the output (stdout) to a file (with --wait or --out)', pathArg)
    .action(async (module: string, opts: SubmitOptions, command: Command) => {
      // Without them submit returns at once with the job's id: -o would be silently ignored.
      if (opts.output != null && opts.wait !== true && opts.out == null) {
        command.error('error: -o/--output needs --wait or --out (without them submit prints the job id and returns; later: depin job ID -o FILE)', { code: 'commander.invalidArgument', exitCode: 2 })
      }
      refuseOutputInsideOut(command, opts)
      await actions.submit(module, opts)
    })

  clientCommand(program, 'jobs', 'list jobs this node requested or ran, newest first')
    .addOption(new Option('--status <status>', `only jobs in this state: ${[...JOB_STATES, 'unverified', 'active'].join(', ')}`).argParser(oneOf([...JOB_STATES, 'unverified', 'active'])))
    .addOption(new Option('--role <role>', 'only jobs this node requested, or ran for peers').argParser(oneOf(['requester', 'worker'] as const)))
    .option('--limit <n>', 'at most this many (default: 100)', integer(1, 1000))
    .option('--prune', 'instead of listing: delete jobs, batches and lease records that ended longer ago than the retention (config `retention`, default 30d), and the blobs only they referenced')
    .option('--older-than <duration>', 'with --prune: this age instead of the retention (e.g. 7d, 12h, 0s for everything that ended)', durationArg)
    .action(async (opts: JobsOptions, command: Command) => {
      // Combinations that cannot mean anything: command-line mistakes (exit 2), refused before anything is sent.
      if (opts.olderThan != null && opts.prune !== true) usageError(command, '--older-than goes with --prune')
      if (opts.prune === true && (opts.status != null || opts.role != null || opts.limit != null)) usageError(command, '--prune does not take --status, --role or --limit')
      await actions.jobs(opts)
    })

  clientCommand(program, 'job', 'show one job: status, workers, verification, cost')
    .argument('<id>', 'job id (a CID)')
    .option('-o, --output <file>', 'write the job\'s output (stdout) to a file (the job must have run)', pathArg)
    .option('--out <dir>', 'write the files the job left in /out into DIR, same paths (the job must have run)', pathArg)
    .option('--wait', 'wait until the job ends (showing progress), then show it; exit 1 unless it completed')
    .option('--follow', 'print each progress event as a line until the job ends')
    .action(async (id: string, opts: JobOptions, command: Command) => {
      if (opts.wait === true && opts.follow === true) usageError(command, 'use --wait or --follow, not both')
      refuseOutputInsideOut(command, opts)
      await actions.job(id, opts)
    })

  clientCommand(program, 'map', 'run a module over many inputs as one batch: one task per input file, outputs to --out')
    .argument('<module.wasm>', 'the WASI preview1 module to run')
    .argument('<input...>', 'input files (each one task, its stdin), or directories (every regular file directly in them)')
    .requiredOption('--out <dir>', 'directory for the outputs: DIR/<input name>.out (stdout), DIR/<input name>/ (the files a task left in /out) and DIR/results.jsonl (created if missing)', pathArg)
    .option('--in <path>', 'a file or directory tree every task finds at /in/<its name>, read-only; repeatable', collectPaths)
    .option('--arg <a>', 'argument for every task, repeatable', collect)
    .option('--replicas <k>', 'distinct workers that run each task (default: 1)', integer(1, 16))
    .option('--max-price <p>', 'highest price in credits per gigafuel, 10^9 units of fuel (default: 10)', integer(0))
    .option('--timeout <s>', 'wall-time limit of one task in seconds (default: 30)', integer(1, 86_400))
    .option('--memory <mib>', 'memory limit of one task in MiB (default: 256)', integer(1, 4096))
    .option('--fuel <n>', 'fuel limit of one task, 0 to 2^64-1 (default: 10^8 per ms of --timeout)', fuelArg)
    .action(async (module: string, inputs: string[], opts: MapOptions) => { await actions.map(module, inputs, opts) })

  clientCommand(program, 'batch', 'show one batch: tasks, completed, failed, verified, cost; --out writes its outputs as map does')
    .argument('<id>', 'batch id (a CID)')
    .option('--out <dir>', 'write the outputs of its tasks into DIR as `map` does (those DIR/results.jsonl does not list yet), following the batch until it ends')
    .action(async (id: string, opts: BatchOptions) => { await actions.batch(id, opts) })
  clientCommand(program, 'batches', 'list the batches this node submitted (depin map), newest first, with their progress')
    .option('--limit <n>', 'at most this many (default: 100)', integer(1, 1000))
    .action(async (opts: BatchesOptions) => { await actions.batches(opts) })
  clientCommand(program, 'cancel', 'cancel a job or batch this node requested that has not ended')
    .argument('<id>', 'job or batch id (a CID)')
    .action(async (id: string, opts: CommonOptions) => { await actions.cancel(id, opts) })

  clientCommand(program, 'balance', 'show the credits of this node or of PEER on the ledger')
    .argument('[peer]', 'peer id (default: this node)', peerIdArg)
    .action(async (peer: string | undefined, opts: CommonOptions) => { await actions.balance(peer, opts) })

  clientCommand(program, 'chain', 'show the ledger: network, height, tip, mempool, mining')
    .option('--blocks <n>', 'also list the last N blocks', integer(1, 100))
    .action(async (opts: ChainOptions) => { await actions.chain(opts) })

  clientCommand(program, 'transfer', 'send credits to a peer (a signed transaction, final once mined)')
    .argument('<peer>', 'peer id of the recipient', peerIdArg)
    .argument('<amount>', 'credits (a positive integer)', integer(1))
    .action(async (peer: string, amount: number, opts: CommonOptions) => { await actions.transfer(peer, amount, opts) })

  clientCommand(program, 'dashboard', 'print the address of this node\'s web dashboard (with the token in its #fragment)')
    .action(async (opts: DashboardOptions) => { await actions.dashboard(opts) })

  const config = program.command('config').description('show or change the data dir\'s config.json (validated as `depin start` reads it)')
  config.command('show')
    .description('print the configuration (config.json with the defaults filled in)')
    .option('--data-dir <dir>', DATA_DIR_HELP, pathArg)
    .option('--json', 'print JSON')
    .action(async (opts: ConfigOptions) => { await actions.configShow(opts) })
  config.command('set')
    .description('set one key (e.g. capacity.cores 4, listen /ip4/0.0.0.0/tcp/4001, mine true); takes effect at the next start')
    .argument('<key>', 'a key `depin config show` lists')
    .argument('<value>', 'the value; lists take JSON or comma-separated values')
    .option('--data-dir <dir>', DATA_DIR_HELP, pathArg)
    .action(async (key: string, value: string, opts: ConfigOptions) => { await actions.configSet(key, value, opts) })
  config.command('unset')
    .description('remove one key (back to its default)')
    .argument('<key>', 'a key `depin config show` lists')
    .option('--data-dir <dir>', DATA_DIR_HELP, pathArg)
    .action(async (key: string, opts: ConfigOptions) => { await actions.configUnset(key, opts) })

  program.command('version')
    .description('print depin\'s version')
    .option('--json', 'print JSON (with the Node.js version)')
    .action(async (opts: { json?: boolean }) => { await actions.version(opts) })

  program.command('testnet')
    .description('run N nodes on this machine (loopback) until Ctrl-C; writes DIR/testnet.json')
    .addOption(new Option('--nodes <n>', 'how many nodes').argParser(integer(1, TESTNET_MAX_NODES)).default(4))
    .addOption(new Option('--transport <t>', `tcp: one daemon process per node; memory: every node in this one process on libp2p's memory transport (default: tcp up to ${TESTNET_PROCESS_NODES_MAX} nodes, memory above)`).choices(['tcp', 'memory']))
    .option('--dir <dir>', 'directory for the nodes\' data dirs and testnet.json (default: ./testnet)', pathArg)
    .option('--base-port <p>', 'node i listens on tcp P+2i and serves its API on P+2i+1 (default: free ports)', integer(1024, 65000))
    .option('--mine', 'node 0 mines ledger blocks')
    .option('--json', 'print testnet.json instead of a table')
    .action(async (opts: TestnetOptions) => { await actions.testnet(opts) })

  return program
}
