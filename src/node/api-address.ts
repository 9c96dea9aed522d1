/**
 * `HOST:PORT` addresses of the local API and the metrics listener. Kept free of heavy imports:
 * the CLI's client commands load it on every run.
 */
import { ConfigError } from '../errors.ts'

/** Parses `HOST:PORT` for a local listener and insists on a loopback host. */
export function parseApiAddress (text: string): { host: string, port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(text)
  if (match == null) throw new ConfigError(`address must be HOST:PORT, got ${JSON.stringify(text)}`)
  const host = match[1].replace(/^\[|\]$/g, '')
  const port = Number(match[2])
  if (port > 65535) throw new ConfigError(`port ${port} is out of range`)
  if (!isLoopbackHost(host)) throw new ConfigError(`the API listens on loopback only; ${host} is not a loopback address`)
  return { host, port }
}

/** True for names and addresses that stay on this machine. */
export function isLoopbackHost (host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '')
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h)
}

/** `HOST:PORT`, with brackets around an IPv6 host. */
export function formatHostPort (host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}
