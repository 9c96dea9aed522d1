/** Reads a server-sent event stream of the local API (job progress, and batches later). */
import { assertOk, type ApiClient } from './client.ts'

export interface ServerEvent { event: string, data: unknown }

/**
 * Yields the events of `path` until the server ends the stream or `signal` aborts. No overall
 * deadline: the daemon ends a job's stream when the job ends (a job may run for hours) and sends
 * a keep-alive comment every 15 s meanwhile.
 */
export async function * serverEvents (client: ApiClient, path: string, signal: AbortSignal = new AbortController().signal): AsyncGenerator<ServerEvent> {
  const response = await client.request(path, { headers: { accept: 'text/event-stream' }, signal })
  await assertOk(response)
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk, { stream: true })
    let split: number
    while ((split = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, split)
      buffer = buffer.slice(split + 2)
      let event = 'message'
      let data: string | undefined
      for (const l of block.split('\n')) {
        if (l.startsWith('event: ')) event = l.slice(7)
        else if (l.startsWith('data: ')) data = l.slice(6)
      }
      if (data == null) continue
      yield { event, data: JSON.parse(data) }
    }
  }
}
