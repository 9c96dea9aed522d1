import { defaultDataDir } from '../../node/data-dir.ts'
import { startDaemon } from '../../node/daemon.ts'
import { line } from '../output.ts'
import type { StartOptions } from '../program.ts'

/** Runs the daemon in the foreground; resolves after SIGINT/SIGTERM stopped it cleanly. */
export async function startCommand (opts: StartOptions): Promise<void> {
  const dataDir = opts.dataDir ?? defaultDataDir()
  const daemon = await startDaemon({
    dataDir,
    listen: opts.listen,
    announce: opts.announce,
    bootstrap: opts.bootstrap,
    api: opts.api,
    mdns: opts.mdns,
    mine: opts.mine,
    spotCheckRate: opts.spotCheck,
    capacity: { cores: opts.cores, memoryMiB: opts.memory, pricePerCpuSecond: opts.price, slots: opts.slots }
  })
  const { node } = daemon
  const capacity = node.status().capacity
  line(`depin node ${node.peerId} started`)
  for (const address of node.multiaddrs) line(`  listening on ${address}`)
  line(`  API on http://${daemon.api}/v1 (token in ${dataDir}/api-token)`)
  line(`  offering ${capacity.cores} cores, ${capacity.memoryMiB} MiB, ${capacity.slots} slots at ${capacity.pricePerCpuSecond} credits/CPU-second`)
  node.addEventListener('peer:connect', (evt) => { line(`peer connected: ${evt.detail}`) })
  node.addEventListener('peer:disconnect', (evt) => { line(`peer disconnected: ${evt.detail}`) })
  node.addEventListener('peer:penalised', (evt) => { line(`${evt.detail.banned ? 'banned' : 'disconnected'} misbehaving peer ${evt.detail.peerId} (score ${evt.detail.score.toFixed(1)})`) })

  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      line(`received ${signal}, stopping`)
      daemon.stop().then(() => { line('stopped'); resolve() }, (err) => {
        process.stderr.write(`depin: error while stopping: ${(err as Error).message}\n`)
        resolve()
      })
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}
