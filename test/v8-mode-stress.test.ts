/**
 * The daemon's V8 mode switch under stress, in a fresh process: V8_DAEMON_FLAGS set once, then
 * the modes switched every millisecond (the daemon's own V8ModeSwitch) while two threads run hot
 * code that V8 optimises and deoptimises. Switching the code-flushing flags too crashed V8 in
 * every one of 4 runs of this stress (test/fixtures/v8/mode-switch-stress.ts --switch-all);
 * the daemon's split must survive it.
 */
import { describe, it, expect } from 'vitest'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const STRESS = fileURLToPath(new URL('./fixtures/v8/mode-switch-stress.ts', import.meta.url))

describe("the daemon's V8 mode switch", () => {
  it('survives thousands of switches while two threads optimise and deoptimise hot code', () => {
    const result = spawnSync(process.execPath, [STRESS, '4'], { encoding: 'utf8', timeout: 120_000 })
    expect(result.signal, result.stderr.slice(-2000)).toBe(null)
    expect(result.status, result.stderr.slice(-2000)).toBe(0)
    const switches = Number(/^ok (\d+)$/m.exec(result.stdout)?.[1])
    // Hundreds at the least, even on a loaded machine (one every millisecond for 4 s when quiet).
    expect(switches).toBeGreaterThan(50)
  }, 150_000)
})
