// depin dashboard: plain browser JavaScript, no build step, no CDN. Everything it shows comes from
// the node's local API, and every request for data carries the bearer token. The token arrives in
// the URL fragment (#token=…), which browsers never send to a server; it is kept in
// sessionStorage (this tab only) and removed from the address bar at once.
// Everything from the API is written with textContent, never as HTML.
'use strict'

const TOKEN_KEY = 'depin-api-token'
const POLL_MS = 5000
const STAGE_WORDS = { queued: 'queued', waiting: 'waiting', offered: 'offered', bid: 'bids', declined: 'declined', accepted: 'accepted', running: 'running', result: 'result', retry: 'retrying', 'spot-check': 'spot check', verified: 'verified', completed: 'done', failed: 'failed' }

const state = { token: null, me: null, progress: new Map(), chart: null, timers: {} }

function takeToken () {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash)
  if (match != null) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]))
    history.replaceState(null, '', location.pathname + location.search)
  }
  return sessionStorage.getItem(TOKEN_KEY)
}

async function api (path, init = {}) {
  const response = await fetch(path, {
    ...init,
    headers: { ...(init.headers ?? {}), authorization: `Bearer ${state.token}` },
    credentials: 'omit',
    cache: 'no-store',
    referrerPolicy: 'no-referrer'
  })
  if (response.status === 401) throw new Error('the node refused the token: open the address `depin dashboard` prints again')
  return response
}

async function json (path) {
  const response = await api(path)
  if (!response.ok) {
    let message = `${path}: HTTP ${response.status}`
    try { message = (await response.json()).error?.message ?? message } catch {}
    const err = new Error(message)
    err.status = response.status
    throw err
  }
  return await response.json()
}

// DOM helpers ------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id)

function el (tag, text, className) {
  const node = document.createElement(tag)
  if (text != null) node.textContent = String(text)
  if (className != null) node.className = className
  return node
}

function row (cells) {
  const tr = document.createElement('tr')
  for (const cell of cells) tr.append(cell instanceof Node ? cell : el('td', cell ?? '–'))
  return tr
}

/** Fills a table's body; with no rows, one line saying so (`empty`), not a bare header. */
function fillTable (id, rows, empty) {
  const table = $(id)
  if (rows.length === 0 && empty != null) {
    const td = el('td', empty, 'muted')
    td.colSpan = table.tHead.rows[0].cells.length
    rows = [row([td])]
  }
  table.tBodies[0].replaceChildren(...rows)
}

/** A cell whose text may wrap (long reasons, addresses): the columns after it stay in view. */
function wrapping (text, className) {
  return el('td', text ?? '–', className == null ? 'wrap' : `wrap ${className}`)
}

/** A cell listing ids that breaks between them, never inside one. */
function idList (ids) {
  if (ids.length === 0) return el('td', '–')
  const td = el('td', null, 'wrap mono')
  ids.forEach((id, i) => {
    if (i > 0) td.append(', ')
    td.append(el('span', shortId(id), 'nowrap'))
  })
  return td
}

function fillList (id, pairs) {
  $(id).replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', k), el('dd', v ?? '–')]))
}

function shortId (id) {
  return id.length > 20 ? `${id.slice(0, 12)}…${id.slice(-6)}` : id
}

function mono (text, title) {
  const td = el('td', text, 'mono')
  if (title != null) td.title = title
  return td
}

function age (ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
  return `${Math.floor(s / 86400)}d`
}

function credits (n) {
  return `${Number(n).toLocaleString('en-US')} credits`
}

function statusWord (job) {
  // A task run here for a peer: verification is the requester's verdict, not known here.
  if (job.status === 'completed' && job.role === 'worker') return 'completed (ran here)'
  // A lease served now: open, its tasks run here as they come.
  if (job.status === 'running' && job.role === 'worker') return 'serving (lease open)'
  if (job.status === 'completed') return job.verified ? 'completed · verified' : 'unverified'
  if (job.status === 'running' && job.running?.length > 0) return `running on ${job.running.map(shortId).join(', ')}`
  return job.status
}

function showError (err) {
  const box = $('error')
  if (err == null) { box.hidden = true; return }
  box.textContent = err.message ?? String(err)
  box.hidden = false
}

// Views ------------------------------------------------------------------------------------------

async function refreshNode () {
  const status = await json('/v1/status')
  state.me = status.peerId
  $('node').textContent = `${status.peerId} · v${status.version ?? '?'} · ${status.peers} peer(s)${status.startedAt != null ? ` · up ${age(status.startedAt)}` : ''}`
  const c = status.capacity
  fillList('capacity', [
    ['cores', c.cores], ['memory', `${c.memoryMiB} MiB`], ['slots', c.slots],
    ['price', `${c.pricePerGigafuel} credits/gigafuel`], ['speed', c.fuelPerSecond > 0 ? `${(c.fuelPerSecond / 1e9).toFixed(1)} Gfuel/s` : '-'], ['runtimes', c.runtimes.join(', ')],
    ['addresses', status.multiaddrs.length]
  ])
}

async function refreshPeers () {
  const { peers } = await json('/v1/peers')
  $('peer-count').textContent = `(${peers.length})`
  fillTable('peers', peers.map((p) => {
    const score = el('td', p.score.toFixed(1), p.score < 0 ? 'bad' : undefined)
    // Where the peer listens, broken (when the card is narrow) before a `/`; all of them in the title.
    const address = el('td', p.addresses.length > 0 ? null : '–', 'wrap mono')
    for (const [i, part] of (p.addresses[0]?.replace(/\/p2p\/[^/]+$/, '').split('/') ?? []).entries()) {
      if (i > 0) address.append(document.createElement('wbr'), '/')
      address.append(part)
    }
    if (p.addresses.length > 0) address.title = p.addresses.join('\n')
    return row([mono(shortId(p.peerId), p.peerId), score, p.latencyMs != null ? `${p.latencyMs} ms` : '–', address])
  }), 'no connected peers')
}

async function refreshJobs () {
  const { jobs } = await json('/v1/jobs?limit=30')
  fillTable('jobs', jobs.map((j) => {
    const live = state.progress.get(j.id)
    // A lease served here has no stages; a job of this node's shows its stage while it runs.
    const staged = j.role !== 'worker' && (j.status === 'queued' || j.status === 'running')
    // A job waiting for workers says why (no capable worker known, or fewer than its replicas).
    const progress = staged
      ? (j.waiting != null ? `waiting: ${j.waiting.message}` : live != null ? `${STAGE_WORDS[live.stage] ?? live.stage}${live.detail != null ? ` (${live.detail})` : ''}` : '…')
      : (j.reason ?? '')
    const status = el('td', statusWord(j), `status-${j.status === 'completed' && !j.verified && j.role === 'requester' ? 'unverified' : j.status}`)
    const workers = j.role === 'requester' ? idList([...new Set([...(j.running ?? []), ...(j.workers ?? [])])]) : mono(`for ${shortId(j.requester)}`, j.requester)
    const module = /^baf[a-z2-7]{20,}$/.test(j.module) ? mono(shortId(j.module), j.module) : j.module
    const tr = row([mono(shortId(j.id), j.id), module, j.role, status, wrapping(progress || '–', 'reason'), workers, j.cost ?? '–', age(j.createdAt)])
    tr.dataset.job = j.id
    return tr
  }), 'no jobs yet: `depin submit` runs one')
}

async function refreshBatches () {
  // Batches come with the scheduler's next version; until the API has them the card stays hidden.
  try {
    const { batches } = await json('/v1/batches?limit=10')
    $('batches-card').hidden = false
    fillTable('batches', batches.map((b) => row([mono(shortId(b.id), b.id), wrapping(b.waiting != null ? `${b.status} · waiting: ${b.waiting.message}` : b.status, 'reason'), `${b.done ?? 0}/${b.tasks ?? '?'}`, b.cost ?? '–', age(b.createdAt)])),
      'no batches yet: `depin map` runs one')
  } catch (err) {
    if (err.status !== 404) throw err
    $('batches-card').hidden = true
  }
}

async function refreshChain () {
  const chain = await json('/v1/ledger/chain?blocks=8')
  fillList('chain', [
    ['network', chain.networkId], ['height', chain.height], ['tip', shortId(chain.tip)],
    ['mempool', `${chain.mempool.size} transaction(s)`], ['mining', chain.mining.running ? `yes, ${chain.mining.found} found` : 'no']
  ])
  fillTable('blocks', (chain.blocks ?? []).map((b) => row([b.height, mono(shortId(b.hash), b.hash), b.txCount, mono(shortId(b.miner), b.miner), b.timestamp > 0 ? new Date(b.timestamp).toLocaleTimeString() : 'genesis'])))
}

async function refreshBalance () {
  const [balance, history] = await Promise.all([json('/v1/ledger/balance'), json('/v1/ledger/history?blocks=100')])
  $('balance').textContent = credits(balance.balance)
  const points = history.points
  const earned = points.reduce((sum, p) => sum + p.earnedWork + p.earnedMining, 0)
  const paid = points.reduce((sum, p) => sum + p.paid, 0)
  $('earnings').textContent = `last ${points.length} block(s): earned ${credits(earned)}, paid ${credits(paid)}`
  drawChart(points)
}

function drawChart (all) {
  // The genesis block has no real time (timestamp 0): it is left off the time axis.
  const points = all.filter((p) => p.timestamp > 0)
  if (typeof uPlot === 'undefined' || points.length === 0) return
  const data = [
    points.map((p) => Math.floor(p.timestamp / 1000)),
    points.map((p) => p.balance),
    points.map((p) => p.earnedWork + p.earnedMining)
  ]
  if (state.chart != null) {
    state.chart.setData(data)
    return
  }
  const box = $('chart')
  state.chart = new uPlot({
    width: Math.max(280, box.clientWidth),
    height: 180,
    series: [
      {},
      { label: 'balance', stroke: '#0969da', width: 2, scale: 'balance' },
      { label: 'earned per block', stroke: '#1a7f37', fill: 'rgba(26,127,55,0.25)', scale: 'earned', paths: uPlot.paths.bars({ size: [0.6, 12] }) }
    ],
    axes: [
      {},
      { scale: 'balance', size: 90, values: (u, ticks) => ticks.map((v) => Math.round(v).toLocaleString('en-US')) },
      { scale: 'earned', side: 1, size: 50, grid: { show: false } }
    ]
  }, data, box)
}

// Live updates -----------------------------------------------------------------------------------

/** Runs `fn` at most once per `ms`, the last call winning. */
function debounced (name, fn, ms = 300) {
  return () => {
    clearTimeout(state.timers[name])
    state.timers[name] = setTimeout(() => { fn().catch(showError) }, ms)
  }
}

const jobsSoon = debounced('jobs', refreshJobs)
const chainSoon = debounced('chain', async () => { await Promise.all([refreshChain(), refreshBalance()]) })
const peersSoon = debounced('peers', async () => { await Promise.all([refreshPeers(), refreshNode()]) })

async function follow () {
  // EventSource cannot send a header, so the stream is read with fetch.
  for (let delay = 1000; ; delay = Math.min(delay * 2, 30_000)) {
    try {
      const response = await api('/v1/events', { headers: { accept: 'text/event-stream' } })
      if (!response.ok || response.body == null) throw new Error(`events: HTTP ${response.status}`)
      $('live').textContent = 'live'
      $('live').classList.add('on')
      delay = 1000
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ''
      while (true) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        let split
        while ((split = buffer.indexOf('\n\n')) >= 0) {
          const chunk = buffer.slice(0, split)
          buffer = buffer.slice(split + 2)
          const type = /^event: (.+)$/m.exec(chunk)?.[1]
          const data = /^data: (.+)$/m.exec(chunk)?.[1]
          if (type == null || data == null) continue
          onEvent(type, JSON.parse(data))
        }
      }
    } catch (err) {
      if (/token/.test(err.message)) { showError(err); return }
    }
    $('live').textContent = 'offline'
    $('live').classList.remove('on')
    await new Promise((resolve) => setTimeout(resolve, delay))
  }
}

function onEvent (type, data) {
  if (type === 'progress') {
    state.progress.set(data.jobId, data)
    if (state.progress.size > 500) state.progress.delete(state.progress.keys().next().value)
    jobsSoon()
  } else if (type === 'tip') {
    chainSoon()
  } else if (type === 'peer') {
    peersSoon()
  }
}

async function refreshAll () {
  try {
    await Promise.all([refreshNode(), refreshPeers(), refreshJobs(), refreshChain(), refreshBalance(), refreshBatches()])
    showError(null)
  } catch (err) {
    showError(err)
  }
}

function main () {
  state.token = takeToken()
  if (state.token == null) {
    $('no-token').hidden = false
    $('node').textContent = 'no token'
    return
  }
  void refreshAll()
  setInterval(() => { void refreshAll() }, POLL_MS)
  void follow()
}

main()
