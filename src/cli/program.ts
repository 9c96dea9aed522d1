/**
 * The `depin` command line: every command, option and default in one place. Building the
 * program is pure: actions are injected, so tests parse argv without starting anything.
 */
import { Command, Option } from 'commander'
import { DEFAULT_API_HOST, DEFAULT_API_PORT, DEFAULT_LISTEN, TESTNET_MAX_NODES, TESTNET_PROCESS_NODES_MAX } from '../node/constants.ts'
import { apiAddressArg, collect, fraction, integer, multiaddrArg } from './parse.ts'

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
  mdns: boolean
}
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
}
export interface JobOptions extends CommonOptions { output?: string }
export interface ChainOptions extends CommonOptions { blocks?: number }
export interface TestnetOptions { nodes: number, dir?: string, basePort?: number, mine?: boolean, json?: boolean, transport?: 'tcp' | 'memory' }

/** What each command does; main.ts supplies the real ones, tests supply recorders. */
export interface CliActions {
  init(options: InitOptions): Promise<void>
  start(options: StartOptions): Promise<void>
  status(options: CommonOptions): Promise<void>
  peers(options: PeersOptions): Promise<void>
  capacity(options: CapacityOptions): Promise<void>
  testnet(options: TestnetOptions): Promise<void>
  submit(module: string, options: SubmitOptions): Promise<void>
  jobs(options: CommonOptions): Promise<void>
  job(id: string, options: JobOptions): Promise<void>
  balance(peer: string | undefined, options: CommonOptions): Promise<void>
  chain(options: ChainOptions): Promise<void>
  transfer(peer: string, amount: number, options: CommonOptions): Promise<void>
}

const DATA_DIR_HELP = 'data directory (default: $DEPIN_DATA_DIR or ~/.depin)'
const API_HELP = `local API address HOST:PORT (default: what the daemon wrote in the data dir, else ${DEFAULT_API_HOST}:${DEFAULT_API_PORT}; or $DEPIN_API)`

/** Adds the options every client command shares. */
function clientCommand (program: Command, name: string, description: string): Command {
  return program.command(name)
    .description(description)
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .option('--api <host:port>', API_HELP, apiAddressArg)
    .option('--json', 'print JSON instead of a table')
}

export function buildProgram (actions: CliActions): Command {
  const program = new Command('depin')
    .description('depin: a peer-to-peer compute-sharing node. Run WebAssembly jobs on other peers, run theirs, keep a shared ledger of credits.')
    .version('0.1.0', '-V, --version')
    .showSuggestionAfterError(true)
    .allowExcessArguments(false)
    .configureHelp({ sortOptions: false })
    .exitOverride()
    // One style for every error line: "depin: <what went wrong>".
    .configureOutput({ outputError: (text, write) => { write(`depin: ${text.replace(/^error: /, '')}`) } })

  program.command('init')
    .description('create the data directory: identity key (0600), config.json and API token')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .option('--listen <multiaddr>', `libp2p listen address to write into config.json, repeatable (default: ${DEFAULT_LISTEN})`, multiaddrArg)
    .option('--api <host:port>', `local API address to write into config.json (default: ${DEFAULT_API_HOST}:${DEFAULT_API_PORT})`, apiAddressArg)
    .option('--force', 'rewrite config.json if it exists (the identity is never replaced)')
    .option('--json', 'print JSON')
    .action(async (opts: InitOptions) => { await actions.init(opts) })

  program.command('start')
    .description('run the node in the foreground until SIGINT/SIGTERM')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .option('--listen <multiaddr>', 'libp2p listen address, repeatable (default: from config.json)', multiaddrArg)
    .option('--announce <multiaddr>', 'address to announce instead of the listen addresses, repeatable', multiaddrArg)
    .option('--bootstrap <multiaddr>', 'peer to connect to at start (with /p2p/<id>), repeatable', multiaddrArg)
    .option('--api <host:port>', `local API address (default: from config.json, else ${DEFAULT_API_HOST}:${DEFAULT_API_PORT})`, apiAddressArg)
    .option('--cores <n>', 'cores to offer (default: all)', integer(1, 4096))
    .option('--memory <mib>', 'memory to offer in MiB (default: half of total, at most what is free)', integer(16, 16 * 1024 * 1024))
    .option('--price <p>', 'price in credits per CPU-second (default: 1)', integer(0, 1_000_000_000))
    .option('--slots <n>', 'jobs run at once (default: cores)', integer(0, 4096))
    .option('--mine', 'mine ledger blocks')
    .option('--spot-check <rate>', 'probability (0 to 1) of re-running a job this node submits locally to check its workers (default: 0)', fraction)
    .option('--no-mdns', 'do not discover peers on the LAN with mDNS')
    .action(async (opts: StartOptions) => { await actions.start(opts) })

  clientCommand(program, 'status', 'show the running node: peer id, addresses, peers, capacity')
    .action(async (opts: CommonOptions) => { await actions.status(opts) })

  clientCommand(program, 'peers', 'list connected peers')
    .option('--connect <multiaddr>', 'connect to a peer first (multiaddr with /p2p/<id>)', (v: string) => multiaddrArg(v)[0])
    .action(async (opts: PeersOptions) => { await actions.peers(opts) })

  clientCommand(program, 'capacity', 'show this node\'s capacity and find capable peers through the DHT')
    .option('--runtime <name>', 'runtime the peers must offer', 'wasi-p1')
    .option('--min-cores <n>', 'only peers with at least this many cores', integer(1, 4096))
    .option('--min-memory <mib>', 'only peers offering at least this much memory', integer(1))
    .option('--max-price <p>', 'only peers at or under this price per CPU-second', integer(0))
    .option('--limit <n>', 'stop after this many peers', integer(1, 1000))
    .action(async (opts: CapacityOptions) => { await actions.capacity(opts) })

  clientCommand(program, 'submit', 'submit a WebAssembly (WASI) job to the network')
    .argument('<module.wasm>', 'the WASI preview1 module to run')
    .option('--input <file>', 'bytes for the program\'s stdin (- reads this command\'s stdin)')
    .option('--arg <a>', 'argument for the program, repeatable', collect)
    .option('--env <name=value>', 'environment variable for the program, repeatable', collect)
    .option('--replicas <k>', 'distinct workers that run it (default: 1)', integer(1, 16))
    .option('--quorum <q>', 'matching outputs needed to verify it (default: majority of replicas)', integer(1, 16))
    .option('--max-price <p>', 'highest price in credits per CPU-second (default: 10)', integer(0))
    .option('--timeout <s>', 'wall-time limit of one run in seconds (default: 30)', integer(1, 86_400))
    .option('--memory <mib>', 'memory limit in MiB (default: 256)', integer(1, 4096))
    .option('--peer <id>', 'run only on this peer, repeatable', collect)
    .option('--spot-check', 'also run the job on this node and pay the workers only if they agree with it')
    .option('--wait', 'wait for the result, showing progress; print the output')
    .option('-o, --output <file>', 'write the output to a file (with --wait)')
    .action(async (module: string, opts: SubmitOptions) => { await actions.submit(module, opts) })

  clientCommand(program, 'jobs', 'list jobs this node requested or ran')
    .action(async (opts: CommonOptions) => { await actions.jobs(opts) })

  clientCommand(program, 'job', 'show one job: status, workers, verification, cost')
    .argument('<id>', 'job id (a CID)')
    .option('-o, --output <file>', 'write the job\'s output to a file')
    .action(async (id: string, opts: JobOptions) => { await actions.job(id, opts) })

  clientCommand(program, 'balance', 'show the credits of this node or of PEER on the ledger')
    .argument('[peer]', 'peer id (default: this node)')
    .action(async (peer: string | undefined, opts: CommonOptions) => { await actions.balance(peer, opts) })

  clientCommand(program, 'chain', 'show the ledger: network, height, tip, mempool, mining')
    .option('--blocks <n>', 'also list the last N blocks', integer(1, 100))
    .action(async (opts: ChainOptions) => { await actions.chain(opts) })

  clientCommand(program, 'transfer', 'send credits to a peer (a signed transaction, final once mined)')
    .argument('<peer>', 'peer id of the recipient')
    .argument('<amount>', 'credits (a positive integer)', integer(1))
    .action(async (peer: string, amount: number, opts: CommonOptions) => { await actions.transfer(peer, amount, opts) })

  program.command('testnet')
    .description('run N nodes on this machine (loopback) until Ctrl-C; writes DIR/testnet.json')
    .addOption(new Option('--nodes <n>', 'how many nodes').argParser(integer(1, TESTNET_MAX_NODES)).default(4))
    .addOption(new Option('--transport <t>', `tcp: one daemon process per node; memory: every node in this one process on libp2p's memory transport (default: tcp up to ${TESTNET_PROCESS_NODES_MAX} nodes, memory above)`).choices(['tcp', 'memory']))
    .option('--dir <dir>', 'directory for the nodes\' data dirs and testnet.json (default: ./testnet)')
    .option('--base-port <p>', 'node i listens on tcp P+2i and serves its API on P+2i+1 (default: free ports)', integer(1024, 65000))
    .option('--mine', 'node 0 mines ledger blocks')
    .option('--json', 'print testnet.json instead of a table')
    .action(async (opts: TestnetOptions) => { await actions.testnet(opts) })

  return program
}
