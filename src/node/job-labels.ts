/**
 * Names people gave their jobs (the module's file name at submission), which the signed job does
 * not carry: the jobs list shows `primes.wasm`, not only a CID. Key space: sublevel `job-labels`,
 * utf8(job id) → JSON `{"module": "<file name>"}`. One small entry per requested job.
 */
import type { Store } from './storage.ts'

export interface JobLabel {
  /** File name of the module as submitted (no directories), at most 200 characters. */
  module?: string
}

const MAX_NAME_CHARS = 200
const enc = new TextEncoder()
const dec = new TextDecoder()

/** A file name safe to store and print: no directories, no control characters, bounded. */
export function cleanModuleName (name: string | undefined): string | undefined {
  if (name == null) return undefined
  // eslint-disable-next-line no-control-regex
  const base = (name.split(/[\\/]/).pop() ?? '').replace(/[\u0000-\u001f\u007f]/g, '').slice(0, MAX_NAME_CHARS)
  return base.length > 0 ? base : undefined
}

export class JobLabels {
  private readonly db: ReturnType<Store['sublevel']>

  constructor (store: Store) {
    this.db = store.sublevel('job-labels', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as ReturnType<Store['sublevel']>
  }

  async set (jobId: string, label: JobLabel): Promise<void> {
    const module = cleanModuleName(label.module)
    if (module == null) return
    await this.db.put(enc.encode(jobId), enc.encode(JSON.stringify({ module })))
  }

  /** Drops the labels of deleted jobs (retention). */
  async deleteMany (jobIds: string[]): Promise<void> {
    if (jobIds.length === 0) return
    await this.db.batch(jobIds.map((id) => ({ type: 'del' as const, key: enc.encode(id) })))
  }

  async get (jobId: string): Promise<JobLabel> {
    const bytes = await this.db.get(enc.encode(jobId))
    if (bytes == null) return {}
    try {
      const parsed = JSON.parse(dec.decode(bytes as Uint8Array)) as JobLabel
      return { module: cleanModuleName(parsed.module) }
    } catch {
      return {}
    }
  }
}
