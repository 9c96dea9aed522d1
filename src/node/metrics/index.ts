/** depin's Prometheus metrics: the registry and metric objects, the event wiring, the token-free listener. */
import { NodeMetrics, type NodeMetricsInit } from './node-metrics.ts'

export { NodeMetrics, type NodeMetricsInit, DURATION_BUCKETS_SECONDS } from './node-metrics.ts'
export { MetricsServer } from './metrics-server.ts'
export { attachNodeMetrics } from './attach.ts'

/** Creates a node's metrics; pass it as `createComputeNode({ metrics })`. */
export function createNodeMetrics (init: NodeMetricsInit = {}): NodeMetrics {
  return new NodeMetrics(init)
}
