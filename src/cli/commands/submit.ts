/**
 * `depin submit MODULE.wasm`: checks the module (WebAssembly, within the cap), the `--in` trees
 * and the `--out` directory here, uploads the module with its input, input tree and spec
 * (declaring their sizes), and with --wait or --out follows it to the end; --out then downloads
 * the files the job left in /out. `-o FILE` needs --wait or --out (program.ts refuses it alone).
 */
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { MAX_INPUT_BYTES } from '../../scheduler/constants.ts'
import { assertOk, createClient } from '../client.ts'
import { fileErrorText, LocalCheckError, UsageError } from '../errors.ts'
import { assertSucceeded } from '../job-format.ts'
import { checkModuleFile } from '../module-check.ts'
import { checkOutputFile } from '../output-file.ts'
import { line, printJson } from '../output.ts'
import { interruptibleUpload } from '../interrupt.ts'
import type { SubmitOptions } from '../program.ts'
import { ProgressView } from '../progress.ts'
import { printFinished, waitForJob } from '../wait.ts'
import { partSize, type FilePart, type FormPart } from '../multipart.ts'

/** The `input` part: stdin's bytes (`-`), or the file, streamed. */
async function readInput (path: string): Promise<FilePart> {
  try {
    if (path === '-') {
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of process.stdin) {
        size += (chunk as Buffer).byteLength
        if (size > MAX_INPUT_BYTES) throw new LocalCheckError(`input from stdin is over ${MAX_INPUT_BYTES} bytes; nothing was uploaded`)
        chunks.push(chunk as Buffer)
      }
      return { name: 'input', filename: 'input', bytes: Buffer.concat(chunks) }
    }
    const info = await stat(path)
    if (!info.isFile()) throw new UsageError(`cannot read input ${path}: not a file`)
    if (info.size > MAX_INPUT_BYTES) throw new LocalCheckError(`input ${path} is ${info.size} bytes; the limit is ${MAX_INPUT_BYTES} (256 MiB); nothing was uploaded`)
    return { name: 'input', filename: 'input', path, size: info.size }
  } catch (err) {
    if (err instanceof UsageError) throw err
    if (err instanceof LocalCheckError) throw err
    throw new UsageError(`cannot read input ${path}: ${fileErrorText(err)}`)
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
  // Files are checked here before anything is sent: a missing --in or an --out that cannot be
  // written is one line, and no job is left behind.
  const files = opts.in != null || opts.out != null ? await import('../files.ts') : undefined
  const tree = opts.in != null && files != null ? await files.scanInParts(opts.in) : undefined
  if (opts.out != null && files != null) await files.prepareOutDir(opts.out)
  if (opts.output != null) await checkOutputFile(opts.output)
  const spec = {
    ...(opts.arg != null ? { args: opts.arg } : {}),
    ...(env != null ? { env } : {}),
    ...(opts.replicas != null ? { replicas: opts.replicas } : {}),
    ...(opts.quorum != null ? { quorum: opts.quorum } : {}),
    ...(opts.maxPrice != null ? { maxPrice: opts.maxPrice } : {}),
    ...(opts.timeout != null ? { timeoutMs: opts.timeout * 1000 } : {}),
    ...(opts.memory != null ? { memoryMiB: opts.memory } : {}),
    ...(opts.fuel != null ? { fuel: opts.fuel } : {}),
    ...(opts.peer != null ? { peers: opts.peer } : {}),
    ...(opts.spotCheck === true ? { spotCheck: true } : {}),
    // Declared sizes: the daemon refuses the upload if a part differs (and before reading it, if too big).
    moduleBytes,
    ...(input != null ? { inputBytes: partSize(input) } : {}),
    ...(tree != null ? { inFiles: tree.files, inBytes: tree.bytes } : {})
  }
  const client = await createClient(opts)
  // The spec first, so the daemon knows the declared sizes while the files stream in.
  const parts: FormPart[] = [
    { name: 'spec', value: JSON.stringify(spec) },
    { name: 'module', filename: basename(modulePath), path: modulePath, size: moduleBytes },
    ...(input != null ? [input] : []),
    ...(tree?.parts ?? [])
  ]
  const upload = await interruptibleUpload('job', async () => await client.uploadParts('/v1/jobs', parts))
  // The upload's word on a signal stands until the job's id is printed or following it takes the signals over.
  try {
    const response = upload.value
    await assertOk(response)
    const { id } = JSON.parse(await response.text()) as { id: string }
    if (opts.wait !== true && opts.out == null) {
      if (opts.json === true) printJson({ id })
      else line(id)
      return
    }
    const view = new ProgressView({ jobId: id, replicas: opts.replicas ?? 1, quiet: opts.json === true })
    const job = await waitForJob(client, id, view, { handOver: upload.release })
    const written = opts.out != null && files != null ? await files.downloadFiles(client, `/v1/jobs/${encodeURIComponent(id)}`, job.files ?? [], opts.out) : undefined
    await printFinished(client, job, { ...opts, written })
    assertSucceeded(job)
  } finally {
    upload.release()
  }
}
