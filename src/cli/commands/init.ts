import { stat } from 'node:fs/promises'
import { makeDir, MakeDirError } from '../../shared/make-dir.ts'
import { defaultDataDir, dataDirPaths, loadOrCreateApiToken, loadOrCreateIdentity } from '../../node/data-dir.ts'
import { writeConfigFile } from '../../node/config.ts'
import { line, printJson } from '../output.ts'
import { UsageError } from '../errors.ts'
import { notADirectoryText } from '../path-in-the-way.ts'
import type { InitOptions } from '../program.ts'

export async function initCommand (opts: InitOptions): Promise<void> {
  const dataDir = dataDirPaths(opts.dataDir ?? defaultDataDir()).root
  try {
    await makeDir(dataDir, { mode: 0o700 })
  } catch (err) {
    if (!(err instanceof MakeDirError)) throw err
    const inTheWay = err.errno === 'ENOTDIR' || err.errno === 'EEXIST' ? await notADirectoryText(dataDir) : undefined
    if (inTheWay != null) throw new UsageError(`cannot create the data directory: ${inTheWay}`)
    throw new UsageError(`cannot create the data directory ${dataDir}: ${err.reason}`)
  }
  const { privateKey, created } = await loadOrCreateIdentity(dataDir)
  const configPath = dataDirPaths(dataDir).config
  const configExists = await stat(configPath).then(() => true, () => false)
  if (!configExists || opts.force === true) {
    await writeConfigFile(dataDir, {
      ...(opts.listen != null ? { listen: opts.listen } : {}),
      ...(opts.api != null ? { api: opts.api } : {})
    })
  }
  await loadOrCreateApiToken(dataDir)
  const peerId = privateKey.publicKey.toString()
  if (opts.json === true) {
    printJson({ dataDir, peerId, identityCreated: created, configWritten: !configExists || opts.force === true })
    return
  }
  line(`${created ? 'initialised' : 'already initialised'} ${dataDir}`)
  line(`peer id: ${peerId}`)
  if (configExists && opts.force !== true) line('kept the existing config.json (use --force to rewrite it)')
  line(`start the node with: depin start --data-dir ${dataDir}`)
}
