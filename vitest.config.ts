import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Multi-peer tests start real libp2p nodes; give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: run at most two test files at once so network tests do not starve each other.
    maxWorkers: 2,
    reporters: ['default']
  }
})
