/**
 * Retention through the real `depin` command: `config set retention|cacheMiB` validation, and
 * `depin jobs --prune` against a real daemon (its own process, LevelDB on disk) whose data dir
 * holds a job that ended ten days ago.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { openStore } from '../src/node/storage.ts'
import { dataDirPaths } from '../src/node/paths.ts'
import { BlobStore } from '../src/scheduler/blob-store.ts'
import { JobStore } from '../src/scheduler/job-store.ts'
import { createJob } from '../src/scheduler/job.ts'
import { runCli, startDaemonProcess, type DaemonProcess } from './cli-helpers.ts'
import { example, utf8 } from './jobs-helpers.ts'
import { tempDir } from './helpers.ts'
import { byteSize } from '../src/cli/output.ts'

const DAY = 24 * 60 * 60 * 1000

describe('depin config retention and depin jobs --prune', () => {
  let dir: { path: string, remove: () => Promise<void> }
  let dataDir: string
  let daemon: DaemonProcess | undefined
  let peerId: string

  beforeAll(async () => {
    dir = await tempDir()
    dataDir = join(dir.path, 'node')
    const init = await runCli(['init', '--data-dir', dataDir, '--json'])
    expect(init.code, init.stderr).toBe(0)
    peerId = JSON.parse(init.stdout).peerId
  })

  afterAll(async () => {
    await daemon?.stop('SIGKILL')
    await dir?.remove()
  })

  it('config set takes a retention duration or forever and a cache size; anything else is one line and changes nothing', async () => {
    for (const [key, value] of [['retention', '3x'], ['retention', '30'], ['retention', '1.5d'], ['cacheMiB', '0'], ['cacheMiB', 'lots']]) {
      const refused = await runCli(['config', 'set', key, value, '--data-dir', dataDir])
      expect(refused.code, `${key} ${value}`).not.toBe(0)
      expect(refused.stderr.trim().split('\n'), refused.stderr).toHaveLength(1)
      expect(refused.stderr).toMatch(new RegExp(`^depin: .*${key}`))
    }
    expect((await runCli(['config', 'set', 'retention', '3x', '--data-dir', dataDir])).stderr).toMatch(/e\.g\. 30d, 12h, 90m\), or forever/)
    // `depin init` wrote the defaults; the refused values changed nothing.
    expect(JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8'))).toMatchObject({ retention: '30d', cacheMiB: 512 })
    const shown = JSON.parse((await runCli(['config', 'show', '--json', '--data-dir', dataDir])).stdout)
    expect(shown).toMatchObject({ retention: '30d', cacheMiB: 512 })

    expect((await runCli(['config', 'set', 'cacheMiB', '256', '--data-dir', dataDir])).code).toBe(0)
    const set = await runCli(['config', 'set', 'retention', 'forever', '--data-dir', dataDir])
    expect(set.code, set.stderr).toBe(0)
    expect(JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8'))).toMatchObject({ retention: 'forever', cacheMiB: 256 })
  })

  it('jobs --prune removes what ended longer ago than --older-than and says what it freed; --older-than alone is a usage error', async () => {
    // A job that ended ten days ago, with its module and input pinned (as an earlier run left it).
    const store = await openStore(dataDirPaths(dataDir).db)
    const module = example('echo')
    const input = utf8('ten days old')
    const { body, id } = createJob(peerId, { module, input })
    await new BlobStore(store).pinMany([{ bytes: module, cid: body.module }, { bytes: input, cid: body.input }])
    const ended = Date.now() - 10 * DAY
    await new JobStore(store).putRequested({ id: id.toString(), body, status: 'completed', createdAt: ended - 1000, updatedAt: ended, replicas: [] })
    await store.close()
    // Retention `forever` (set above): the daemon's own prune at start keeps the record.
    daemon = await startDaemonProcess(dataDir, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'])

    const alone = await runCli(['jobs', '--older-than', '1d', '--data-dir', dataDir])
    expect(alone.code).toBe(2)
    expect(alone.stderr.trim()).toBe('depin: --older-than goes with --prune')
    const badAge = await runCli(['jobs', '--prune', '--older-than', 'forever', '--data-dir', dataDir])
    expect(badAge.code).not.toBe(0)
    expect(badAge.stderr.trim().split('\n')).toHaveLength(1)

    const keep = await runCli(['jobs', '--prune', '--data-dir', dataDir])
    expect(keep.code, keep.stderr).toBe(0)
    expect(keep.stdout.trim()).toBe('kept every record (retention forever); deleted 0 unreferenced blobs (0 B freed)')
    const recent = await runCli(['jobs', '--prune', '--older-than', '11d', '--data-dir', dataDir])
    expect(recent.stdout.trim()).toBe('removed 0 jobs, 0 batches (0 tasks), 0 lease records that ended more than 11d ago; deleted 0 unreferenced blobs (0 B freed)')

    const pruned = await runCli(['jobs', '--prune', '--older-than', '7d', '--data-dir', dataDir])
    expect(pruned.code, pruned.stderr).toBe(0)
    const freed = module.byteLength + input.byteLength
    expect(pruned.stdout.trim()).toBe(`removed 1 job, 0 batches (0 tasks), 0 lease records that ended more than 7d ago; deleted 2 unreferenced blobs (${byteSize(freed)} freed)`)
    const listed = JSON.parse((await runCli(['jobs', '--json', '--data-dir', dataDir])).stdout)
    expect(listed.jobs).toEqual([])

    const json = await runCli(['jobs', '--prune', '--older-than', '0s', '--json', '--data-dir', dataDir])
    expect(JSON.parse(json.stdout)).toMatchObject({ jobs: 0, batches: 0, tasks: 0, leases: 0, blobs: 0, bytes: 0, olderThanMs: 0 })
  })
})
