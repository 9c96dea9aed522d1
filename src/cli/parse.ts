/** Argument parsers for commander options: each throws commander's InvalidArgumentError with a clear reason. */
import { InvalidArgumentError } from 'commander'
import { multiaddr } from '@multiformats/multiaddr'
import { parseApiAddress } from '../node/config.ts'

export function integer (min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`expected an integer, got ${JSON.stringify(value)}`)
    const n = Number(value)
    if (n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got ${n}`)
    return n
  }
}

/** A number from 0 to 1. */
export function fraction (value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`expected a number from 0 to 1, got ${JSON.stringify(value)}`)
  return n
}

export function multiaddrArg (value: string, previous: string[] = []): string[] {
  try {
    multiaddr(value)
  } catch {
    throw new InvalidArgumentError(`not a valid multiaddr: ${JSON.stringify(value)}`)
  }
  return [...previous, value]
}

export function apiAddressArg (value: string): string {
  try {
    parseApiAddress(value)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
  return value
}

export function collect (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}
