/**
 * `depin dashboard`: the address of the node's web dashboard. The token rides in the URL fragment
 * (after `#`), which browsers keep to themselves: it never reaches a server, a proxy log or a
 * Referer header; the page moves it to sessionStorage and clears it from the address bar.
 */
import { line, printJson } from '../output.ts'
import type { DashboardOptions } from '../program.ts'
import { createClient, resolveApi } from '../client.ts'

export async function dashboardCommand (opts: DashboardOptions): Promise<void> {
  // Check the node answers (and is the one this token belongs to) before printing an address.
  const client = await createClient(opts)
  await client.get('/v1/status')
  const { token } = await resolveApi(opts)
  const url = `http://${client.api}/dashboard/#token=${encodeURIComponent(token)}`
  if (opts.json === true) { printJson({ url }); return }
  line(url)
  if (process.stdout.isTTY === true) process.stderr.write('open it in a browser on this machine; keep the address to yourself: it carries the API token\n')
}
