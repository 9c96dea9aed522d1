/**
 * The web dashboard in headless Chromium (Debian's `chromium`, driven by playwright-core) against
 * a real three-node network: the page loads from the daemon, shows the testnet's peers and a job
 * submitted during the test with its live state, and every request it makes for data carries
 * the token (only its own static files are fetched without it); the token never appears in a URL
 * the browser sends, and leaves the address bar.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { createTestnet, type Testnet } from '../src/node/testnet.ts'
import { createNodeMetrics } from '../src/node/metrics/index.ts'
import type { ApiServer } from '../src/node/api/server.ts'
import { example, utf8, waitForCapacity } from './jobs-helpers.ts'
import { TOKEN, startApi } from './api-helpers.ts'

const CHROMIUM = '/usr/bin/chromium'
const NOBODY = '12D3KooWBSNUWRbaR7hXC3rVfLGY1z6pD9kNRhyc6gEsnoowTmhc'
const STATIC = new Set(['/dashboard/', '/dashboard/app.js', '/dashboard/style.css', '/dashboard/uplot.js', '/dashboard/uplot.css'])

// CI installs Chromium (.ci/run); elsewhere the test is skipped when it is missing.
describe.skipIf(!existsSync(CHROMIUM) && process.env.CI !== 'true')('web dashboard in headless Chromium', () => {
  let net: Testnet
  let server: ApiServer
  let port: number
  let profile: string
  let context: BrowserContext
  let page: Page
  const requests: Array<{ url: string, authorization?: string }> = []

  beforeAll(async () => {
    net = await createTestnet({ nodes: 3, miners: [0], nodeInit: (i) => ({ metrics: createNodeMetrics({ libp2p: false }), ...(i === 0 ? { capacity: { slots: 0 } } : {}) }) })
    ;({ server, port } = await startApi(net.nodes[0], createNodeMetrics({ libp2p: false })))
    await waitForCapacity(net.nodes[0], 2)
    profile = await mkdtemp(join(tmpdir(), 'depin-chromium-'))
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 }
    })
    page = context.pages()[0] ?? await context.newPage()
    page.on('request', (request) => {
      void request.allHeaders().then((headers) => { requests.push({ url: request.url(), authorization: headers.authorization }) })
    })
  }, 120_000)

  afterAll(async () => {
    await context?.close()
    if (profile != null) await rm(profile, { recursive: true, force: true })
    await server?.stop()
    await net?.stop()
  })

  it('loads, shows the peers, and shows a job submitted now until it completes and is verified', async () => {
    await page.goto(`http://127.0.0.1:${port}/dashboard/#token=${TOKEN}`)
    // The token left the address bar at once.
    expect(new URL(page.url()).hash).toBe('')
    // Both other nodes are listed as peers.
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('#peers tbody tr').length === 2, undefined, { timeout: 30_000 })
    const peerTitles = await page.$$eval('#peers tbody td:first-child', (cells) => cells.map((c) => c.getAttribute('title')))
    expect(new Set(peerTitles)).toEqual(new Set([net.nodes[1].peerId, net.nodes[2].peerId]))
    // Each peer's address is where it listens (its own multiaddr), not a connection's source port.
    await page.waitForFunction((expected) => {
      const shown = [...(globalThis as any).document.querySelectorAll('#peers tbody td:last-child')].map((c: any) => c.getAttribute('title')?.split('\n')[0])
      return shown.length === expected.length && expected.every((a) => shown.includes(a))
    }, [net.nodes[1].multiaddrs[0], net.nodes[2].multiaddrs[0]], { timeout: 30_000 })
    expect(await page.textContent('#node')).toContain(net.nodes[0].peerId)

    const handle = await net.nodes[0].submitJob({ module: example('echo'), input: utf8('dashboard') })
    const row = `#jobs tbody tr[data-job="${handle.id}"]`
    await page.waitForSelector(row, { timeout: 30_000 })
    await page.waitForFunction((selector) => (globalThis as any).document.querySelector(selector)?.textContent?.includes('completed · verified') === true, row, { timeout: 60_000 })
    const text = await page.textContent(row)
    expect(text).toContain('requester')
    // Chain tip and the balance chart came through too.
    await page.waitForFunction(() => (globalThis as any).document.querySelector('#balance')?.textContent?.includes('credits') === true, undefined, { timeout: 30_000 })
    await page.waitForSelector('#chart canvas', { timeout: 30_000 })
    await page.waitForFunction(() => (globalThis as any).document.querySelector('#live')?.textContent === 'live', undefined, { timeout: 30_000 })
    expect(await page.isHidden('#error'), await page.textContent('#error') ?? '').toBe(true)
    await page.screenshot({ path: join(tmpdir(), 'depin-dashboard.png'), fullPage: true })
  })

  it('says when there are no batches, lists one once submitted, and at 1300 px keeps the Jobs table\'s cost and age in view beside a long reason', async () => {
    await page.setViewportSize({ width: 1300, height: 900 })
    // No batch yet: a line saying so, not a bare header (the card's empty table).
    await page.waitForFunction(() => (globalThis as any).document.querySelector('#batches tbody')?.textContent?.includes('no batches yet') === true, undefined, { timeout: 30_000 })
    expect(await page.isVisible('#batches-card')).toBe(true)

    const batch = await net.nodes[0].submitBatch({ module: example('echo'), tasks: [{ input: utf8('a') }, { input: utf8('b') }] })
    expect(await batch.result()).toMatchObject({ status: 'done', completed: 2 })
    const batchRow = `#batches tbody tr:has(td[title="${batch.id}"])`
    await page.waitForFunction((selector) => (globalThis as any).document.querySelector(selector)?.textContent?.includes('2/2') === true, batchRow, { timeout: 30_000 })
    expect(await page.textContent(batchRow)).toContain('done')

    // A job that waits for a peer nobody knows: its progress is a long line of why.
    const waiting = await net.nodes[0].submitJob({ module: example('echo'), input: utf8('waits'), peers: [NOBODY] })
    const waitingRow = `#jobs tbody tr[data-job="${waiting.id}"]`
    await page.waitForFunction((selector) => (globalThis as any).document.querySelector(selector)?.textContent?.includes('waiting: no capable worker known') === true, waitingRow, { timeout: 30_000 })
    const layout = await page.evaluate(() => {
      const doc = (): any => (globalThis as any).document
      const card = doc().querySelector('#jobs-card')
      const right = card.getBoundingClientRect().right
      const heads = [...doc().querySelectorAll('#jobs thead th')].map((th: any) => ({ name: th.textContent, right: th.getBoundingClientRect().right }))
      return { scrolls: card.scrollWidth > card.clientWidth, right, heads }
    })
    expect(layout.scrolls).toBe(false)
    for (const name of ['cost', 'age']) expect(layout.heads.find((h) => h.name === name)?.right, name).toBeLessThanOrEqual(layout.right)
    await net.nodes[0].cancelJob(waiting.id)
    await page.screenshot({ path: join(tmpdir(), 'depin-dashboard-1300.png'), fullPage: true })
  })

  it('made no request for data without the token, and never put the token in a URL', async () => {
    const own = requests.filter((r) => new URL(r.url).host === `127.0.0.1:${port}`)
    expect(own.length).toBeGreaterThan(10)
    expect(requests.filter((r) => new URL(r.url).host !== `127.0.0.1:${port}`)).toEqual([])
    const withoutToken = own.filter((r) => r.authorization !== `Bearer ${TOKEN}`).map((r) => new URL(r.url).pathname)
    // Only the page's own static files (the same bytes for every node, no data) go without it.
    expect(withoutToken.every((path) => STATIC.has(path)), withoutToken.join(', ')).toBe(true)
    expect(own.some((r) => new URL(r.url).pathname === '/v1/peers' && r.authorization === `Bearer ${TOKEN}`)).toBe(true)
    expect(own.some((r) => new URL(r.url).pathname === '/v1/events' && r.authorization === `Bearer ${TOKEN}`)).toBe(true)
    for (const r of requests) expect(r.url).not.toContain(TOKEN)
  })

  it('without a token it asks for the address `depin dashboard` prints, and requests no data', async () => {
    const fresh = await context.newPage()
    const seen: string[] = []
    fresh.on('request', (request) => { seen.push(new URL(request.url()).pathname) })
    // Another tab: sessionStorage is per tab, so this one has no token.
    await fresh.goto(`http://127.0.0.1:${port}/dashboard/`)
    await fresh.waitForSelector('#no-token:not([hidden])')
    expect(seen.filter((p) => !STATIC.has(p))).toEqual([])
    await fresh.close()
  })
})
