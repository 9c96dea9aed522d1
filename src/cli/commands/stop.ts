/** `depin stop`: asks the running daemon to stop (POST /v1/node/stop) and waits until it has. */
import { isProcessAlive, readApiInfo } from '../../node/paths.ts'
import { createClient } from '../client.ts'
import { DepinError } from '../../errors.ts'
import { line, printJson } from '../output.ts'
import type { StopOptions } from '../program.ts'

const DEFAULT_STOP_WAIT_S = 60

export class StopTimeoutError extends DepinError {
  constructor (message: string) {
    super(message, 'ERR_STOP_TIMEOUT')
  }
}

export async function stopCommand (opts: StopOptions): Promise<void> {
  const client = await createClient(opts)
  // Read before asking: the daemon removes its api.json first thing when it stops.
  const info = client.source === 'api.json' ? await readApiInfo(client.dataDir) : undefined
  const { peerId } = await client.post<{ peerId: string }>('/v1/node/stop', {})
  // The daemon answers first, then stops: wait until its API no longer answers and, when its
  // api.json named a pid of its own, until that process has exited (a node of an in-process
  // testnet shares its process with the other nodes, which keep running).
  const deadline = Date.now() + (opts.timeout ?? DEFAULT_STOP_WAIT_S) * 1000
  while (Date.now() < deadline) {
    const apiGone = await client.request('/v1/status', { signal: AbortSignal.timeout(1000) }).then(() => false, () => true)
    const processGone = info == null || info.sharedProcess === true || !isProcessAlive(info.pid)
    if (apiGone && processGone) {
      if (opts.json === true) printJson({ stopped: true, peerId })
      else line(`stopped ${peerId}`)
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new StopTimeoutError(`node ${peerId} was asked to stop but is still running after ${opts.timeout ?? DEFAULT_STOP_WAIT_S} s`)
}
