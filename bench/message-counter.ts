/**
 * A libp2p `Metrics` implementation for benchmarks that counts what a node receives: streams
 * opened per protocol, messages (data chunks delivered to a stream's reader) per protocol, and
 * connections. Every other metric is a no-op. Pass `counter.metrics` as a node's `metrics`.
 */
import type { Metrics, MultiaddrConnection, Stream } from '@libp2p/interface'

export interface MessageCounts {
  connections: number
  streams: Record<string, number>
  messages: Record<string, number>
}

const noop = (): any => new Proxy(() => {}, { get: (_t, prop) => prop === 'then' ? undefined : noop() })

export class MessageCounter {
  readonly counts: MessageCounts = { connections: 0, streams: {}, messages: {} }

  /** The factory libp2p's `metrics` option takes. */
  readonly metrics = (): Metrics => {
    const counts = this.counts
    const metric = noop()
    return {
      trackMultiaddrConnection (_maConn: MultiaddrConnection) { counts.connections++ },
      trackProtocolStream (stream: Stream) {
        const protocol = stream.protocol ?? 'unknown'
        counts.streams[protocol] = (counts.streams[protocol] ?? 0) + 1
        stream.addEventListener('message', () => { counts.messages[protocol] = (counts.messages[protocol] ?? 0) + 1 })
      },
      registerMetric: () => metric,
      registerMetricGroup: () => metric,
      registerCounter: () => metric,
      registerCounterGroup: () => metric,
      registerHistogram: () => metric,
      registerHistogramGroup: () => metric,
      registerSummary: () => metric,
      registerSummaryGroup: () => metric,
      traceFunction: (_name: string, fn: any) => fn,
      createTrace: () => undefined
    } as unknown as Metrics
  }

  /** Total messages received so far. */
  messages (): number {
    return Object.values(this.counts.messages).reduce((a, b) => a + b, 0)
  }

  snapshot (): MessageCounts {
    return { connections: this.counts.connections, streams: { ...this.counts.streams }, messages: { ...this.counts.messages } }
  }
}

/** What happened between two snapshots, summed over nodes. */
export function diffCounts (before: MessageCounts[], after: MessageCounts[]): MessageCounts {
  const out: MessageCounts = { connections: 0, streams: {}, messages: {} }
  after.forEach((a, i) => {
    const b = before[i]
    out.connections += a.connections - b.connections
    for (const [k, v] of Object.entries(a.streams)) out.streams[k] = (out.streams[k] ?? 0) + v - (b.streams[k] ?? 0)
    for (const [k, v] of Object.entries(a.messages)) out.messages[k] = (out.messages[k] ?? 0) + v - (b.messages[k] ?? 0)
  })
  return out
}
