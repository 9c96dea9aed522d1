/**
 * Argument parsers for commander options: each throws commander's InvalidArgumentError with a
 * clear reason. Light on purpose (no libp2p, no zod): every `depin` run loads this file.
 * Multiaddrs are checked in a pre-action hook (program.ts) that loads the multiaddr library
 * only for the commands that take one.
 */
import { InvalidArgumentError } from 'commander'
import { parseApiAddress } from '../node/api-address.ts'
import { DURATION_HELP, parseDuration } from '../shared/duration.ts'

export function integer (min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`expected an integer, got ${JSON.stringify(value)}`)
    const n = Number(value)
    // The text as given: 9999999999999999999999 as a number prints as 1e+22.
    if (n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got ${value}${n > Number.MAX_SAFE_INTEGER ? ' (too large)' : ''}`)
    if (n < min) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got ${value}`)
    return n
  }
}

/** Largest fuel limit: 2^64-1. */
const MAX_FUEL = 2n ** 64n - 1n

/** A fuel limit: a decimal integer from 0 to 2^64-1, kept as its decimal text (it may pass 2^53). */
export function fuelArg (value: string): string {
  const expected = `expected an integer from 0 to ${MAX_FUEL} (2^64-1), got ${JSON.stringify(value)}`
  if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError(expected)
  const fuel = BigInt(value)
  if (fuel > MAX_FUEL) throw new InvalidArgumentError(expected)
  return fuel.toString()
}

/** A number from 0 to 1. */
export function fraction (value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`expected a number from 0 to 1, got ${JSON.stringify(value)}`)
  return n
}

/** One of a fixed set of words. */
export function oneOf<T extends string> (words: readonly T[]) {
  return (value: string): T => {
    if (!(words as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${words.join(', ')}, got ${JSON.stringify(value)}`)
    return value as T
  }
}

/** A repeatable multiaddr option; checked before the action runs (see `checkMultiaddrs`). */
export function multiaddrArg (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

/**
 * Throws for the first string that is not a valid multiaddr; with `peerId`, also for one without
 * a `/p2p/<peer id>` (a bootstrap address: libp2p would skip it without a word).
 */
export async function checkMultiaddrs (values: string[], options: { peerId?: boolean } = {}): Promise<void> {
  if (values.length === 0) return
  const { multiaddr } = await import('@multiformats/multiaddr')
  for (const value of values) {
    let address
    try {
      address = multiaddr(value)
    } catch {
      throw new InvalidArgumentError(`not a valid multiaddr: ${JSON.stringify(value)}`)
    }
    if (options.peerId === true && !address.getComponents().some((c) => c.name === 'p2p')) {
      throw new InvalidArgumentError(bootstrapWithoutPeerId(value))
    }
  }
}

/** The message for a bootstrap address without its peer's id. */
export function bootstrapWithoutPeerId (value: string): string {
  return `bootstrap address ${JSON.stringify(value)} has no /p2p/<peer id>; add the peer's id (\`depin status\` on that node shows its addresses with it)`
}

export function apiAddressArg (value: string): string {
  try {
    parseApiAddress(value)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
  return value
}

/** `HOST:PORT` of the metrics listener: loopback only, as the API. */
export function metricsAddressArg (value: string): string {
  try {
    parseApiAddress(value)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message.replace(/^the API listens on loopback only/, 'metrics listen on loopback only (put a proxy in front to expose them)'))
  }
  return value
}

/** An Ed25519 peer id in base58 (`12D3KooW…`), as the API takes it (src/proofs/schema.ts `peerIdSchema`). */
const PEER_ID = /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/

export function peerIdArg (value: string): string {
  if (!PEER_ID.test(value)) throw new InvalidArgumentError(`expected a peer id (12D3KooW…, 52 characters; \`depin status\` shows a node's), got ${JSON.stringify(value)}`)
  return value
}

export function collect (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

/**
 * A path option: an empty one is a mistake (an unset shell variable), not the current directory
 * it would resolve to (`testnet --dir ""` filled the working directory with nodes).
 */
export function pathArg (value: string): string {
  if (value === '') throw new InvalidArgumentError('expected a path, got ""')
  return value
}

/** A repeatable path option (`--in`). */
export function collectPaths (value: string, previous: string[] = []): string[] {
  return [...previous, pathArg(value)]
}

/** Longest runtime name a capacity record carries (capacity-record.ts). */
const MAX_RUNTIME_CHARS = 32

/** A runtime name (`wasi-p1`): 1 to 32 characters, as the API and the capacity records take it. */
export function runtimeArg (value: string): string {
  if (value.length === 0 || value.length > MAX_RUNTIME_CHARS) {
    throw new InvalidArgumentError(`expected a runtime name of 1 to ${MAX_RUNTIME_CHARS} characters (e.g. wasi-p1), got ${JSON.stringify(value)}`)
  }
  return value
}

/** A duration (`30d`, `12h`, `90m`, `0s`) in milliseconds; `forever` is not one here. */
export function durationArg (value: string): number {
  const ms = parseDuration(value, { allowForever: false })
  if (ms === undefined) throw new InvalidArgumentError(`expected ${DURATION_HELP.replace(', or forever', '')}, got ${JSON.stringify(value)}`)
  return ms
}
