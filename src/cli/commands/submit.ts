/**
 * `depin submit MODULE.wasm`: checks the module here (WebAssembly, within the cap), uploads it
 * with its input and spec (declaring their sizes), and with --wait follows it to the end.
 */
import { openAsBlob } from 'node:fs'
import { basename } from 'node:path'
import { MAX_INPUT_BYTES } from '../../scheduler/constants.ts'
import { assertOk, createClient } from '../client.ts'
import { LocalCheckError, UsageError } from '../errors.ts'
import { assertSucceeded } from '../job-format.ts'
import { checkModuleFile } from '../module-check.ts'
import { line, printJson } from '../output.ts'
import type { SubmitOptions } from '../program.ts'
import { ProgressView } from '../progress.ts'
import { printFinished, waitForJob } from '../wait.ts'

async function readInput (path: string): Promise<Blob> {
  try {
    if (path === '-') {
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of process.stdin) {
        size += (chunk as Buffer).byteLength
        if (size > MAX_INPUT_BYTES) throw new LocalCheckError(`input from stdin is over ${MAX_INPUT_BYTES} bytes; nothing was uploaded`)
        chunks.push(chunk as Buffer)
      }
      return new Blob(chunks)
    }
    const blob = await openAsBlob(path)
    if (blob.size > MAX_INPUT_BYTES) throw new LocalCheckError(`input ${path} is ${blob.size} bytes; the limit is ${MAX_INPUT_BYTES} (256 MiB); nothing was uploaded`)
    return blob
  } catch (err) {
    if (err instanceof LocalCheckError) throw err
    throw new UsageError(`cannot read input ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

function parseEnv (pairs: string[] = []): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined
  const env: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new UsageError(`--env takes NAME=VALUE, got ${JSON.stringify(pair)}`)
    env[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return env
}

export async function submitCommand (modulePath: string, opts: SubmitOptions): Promise<void> {
  const env = parseEnv(opts.env)
  const moduleBytes = await checkModuleFile(modulePath)
  const input = opts.input != null ? await readInput(opts.input) : undefined
  const spec = {
    ...(opts.arg != null ? { args: opts.arg } : {}),
    ...(env != null ? { env } : {}),
    ...(opts.replicas != null ? { replicas: opts.replicas } : {}),
    ...(opts.quorum != null ? { quorum: opts.quorum } : {}),
    ...(opts.maxPrice != null ? { maxPrice: opts.maxPrice } : {}),
    ...(opts.timeout != null ? { timeoutMs: opts.timeout * 1000 } : {}),
    ...(opts.memory != null ? { memoryMiB: opts.memory } : {}),
    ...(opts.peer != null ? { peers: opts.peer } : {}),
    ...(opts.spotCheck === true ? { spotCheck: true } : {}),
    // Declared sizes: the daemon refuses the upload if a part differs (and before reading it, if too big).
    moduleBytes,
    ...(input != null ? { inputBytes: input.size } : {})
  }
  const client = await createClient(opts)
  const form = new FormData()
  // The spec first, so the daemon knows the declared sizes while the files stream in.
  form.set('spec', JSON.stringify(spec))
  form.set('module', await openAsBlob(modulePath), basename(modulePath))
  if (input != null) form.set('input', input, 'input')
  const response = await client.upload('/v1/jobs', form)
  await assertOk(response)
  const { id } = JSON.parse(await response.text()) as { id: string }
  if (opts.wait !== true) {
    if (opts.json === true) printJson({ id })
    else line(id)
    return
  }
  const view = new ProgressView({ jobId: id, replicas: opts.replicas ?? 1, quiet: opts.json === true })
  await view.start()
  const job = await waitForJob(client, id, view)
  await printFinished(client, job, opts)
  assertSucceeded(job)
}
