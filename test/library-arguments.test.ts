/**
 * Bad arguments to the library's calls get specific errors naming what is wrong, not a
 * TypeError or RangeError from deep inside (review of depin as a library, finding 7).
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest'
import { createComputeNode, createGenesisConfig, GenesisConfigError, InvalidArgumentError, InvalidJobError, type ComputeNode } from '../src/index.ts'

describe('library arguments', () => {
  let node: ComputeNode
  beforeAll(async () => {
    node = createComputeNode({ transport: 'memory', mdns: false, fuelPerSecond: 1e9 })
    await node.start()
  })
  afterAll(async () => { await node?.stop() })

  it('findCapacity refuses a query out of range with InvalidArgumentError naming the field', async () => {
    for (const [query, field] of [[{ minCores: -1 }, 'minCores'], [{ limit: 'x' }, 'limit'], [{ maxPrice: 1.5 }, 'maxPrice'], [{ timeoutMs: -5 }, 'timeoutMs']] as const) {
      const err = await node.findCapacity(query as any).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect((err as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT')
      expect((err as Error).message).toContain(field)
    }
    // a good query still answers (nobody else is on this network)
    expect(await node.findCapacity({ minCores: 1, limit: 3, timeoutMs: 100 })).toEqual([])
  })

  it('submitJob and submitBatch without an init object are InvalidJobError', async () => {
    await expect(node.submitJob(null as any)).rejects.toBeInstanceOf(InvalidJobError)
    await expect(node.submitBatch(undefined as any)).rejects.toBeInstanceOf(InvalidJobError)
  })
})

describe('createGenesisConfig', () => {
  it('refuses a hashesPerBlock that is not a whole number of at least 1 with GenesisConfigError', () => {
    for (const hashesPerBlock of [-1, 0, 1.5, Number.NaN]) {
      expect(() => createGenesisConfig({ hashesPerBlock })).toThrow(GenesisConfigError)
    }
    expect(createGenesisConfig({ hashesPerBlock: 1 }).networkId).toMatch(/^testnet-/)
  })
})
