// The dashboard page: polls /api/state and redraws. No framework: a few DOM updates and uPlot
// charts, each created once and fed new data afterwards (uPlot redraws in a few ms).
/* global uPlot */

const charts = new Map()
const COLORS = { close: '#4ea1ff', volume: 'rgba(138,150,163,0.45)', buy: '#2fbf71', sell: '#e5534b' }
const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 })

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value)
  for (const child of children) node.append(child)
  return node
}

function text(selector, value, root = document) {
  const node = root.querySelector(selector)
  if (node && node.textContent !== String(value)) node.textContent = String(value)
  return node
}

/** Creates the chart the first time, then only replaces its data. */
function chart(key, target, options, data) {
  const existing = charts.get(key)
  if (existing) {
    existing.setData(data)
    return existing
  }
  const created = new uPlot({ width: target.clientWidth || 520, height: 180, ...options }, data, target)
  charts.set(key, created)
  return created
}

/** Every chart spans the same hour, however few points it has (epoch seconds). */
let hour = [0, 1]
const x = { time: true, range: () => hour }

const axis = { stroke: '#8a96a3', grid: { stroke: '#263140' }, ticks: { stroke: '#263140' } }

function symbolCard(view) {
  const card = el(
    'div',
    { class: 'card', 'data-symbol': view.symbol },
    el(
      'div',
      { class: 'card-head' },
      el('img', { class: 'icon', alt: `${view.asset_id} icon` }),
      el('span', { class: 'symbol' }, view.symbol),
      el('span', { class: 'change' }),
      el('span', { class: 'last-price' }, '–'),
    ),
    el(
      'div',
      { class: 'facts' },
      el('span', { class: 'bars' }, '0'),
      ' bars, ',
      el('span', { class: 'trades' }, '0'),
      ' trades in the last hour; newest bar ',
      el('span', { class: 'last-bar' }, '–'),
    ),
    el('div', { class: 'chart price-chart' }),
  )
  document.getElementById('symbols').append(card)
  return card
}

function renderSymbol(view) {
  const card = document.querySelector(`[data-symbol="${CSS.escape(view.symbol)}"]`) ?? symbolCard(view)
  const icon = card.querySelector('img.icon')
  if (view.icon_url && icon.getAttribute('src') !== view.icon_url) icon.setAttribute('src', view.icon_url)
  text('.last-price', view.last_price ?? '–', card)
  const change = card.querySelector('.change')
  change.className = `change ${view.change_pct === null ? '' : view.change_pct >= 0 ? 'up' : 'down'}`
  change.textContent =
    view.change_pct === null ? '' : `${view.change_pct >= 0 ? '+' : ''}${view.change_pct.toFixed(3)} % 1h`
  text('.bars', view.bars, card)
  text('.trades', view.trades, card)
  text('.last-bar', view.last_bar_start ? view.last_bar_start.slice(11, 16) : '–', card)
  const series = view.series
  chart(
    `price:${view.symbol}`,
    card.querySelector('.price-chart'),
    {
      scales: { x, volume: { range: (_u, _min, max) => [0, max * 3 || 1] } },
      series: [
        {},
        { label: 'close', stroke: COLORS.close, width: 2, scale: 'price' },
        {
          label: 'volume / min',
          fill: COLORS.volume,
          stroke: COLORS.volume,
          scale: 'volume',
          paths: uPlot.paths.bars({ size: [0.6, 12] }),
          points: { show: false },
        },
      ],
      axes: [axis, { ...axis, scale: 'price', size: 70 }, { ...axis, scale: 'volume', side: 1, show: false }],
    },
    [series.map((p) => p.t), series.map((p) => p.close), series.map((p) => p.volume)],
  )
}

function renderTrading(trading) {
  text('#trades-total', `${trading.total} trades`)
  const rows = trading.per_minute
  const target = document.getElementById('trades-chart')
  chart(
    'trades',
    target,
    {
      scales: { x, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      series: [
        {},
        {
          label: 'BUY',
          stroke: COLORS.buy,
          fill: 'rgba(47,191,113,0.5)',
          paths: uPlot.paths.bars({ size: [0.4, 10], align: -1 }),
        },
        {
          label: 'SELL',
          stroke: COLORS.sell,
          fill: 'rgba(229,83,75,0.5)',
          paths: uPlot.paths.bars({ size: [0.4, 10], align: 1 }),
        },
      ],
      axes: [axis, { ...axis, size: 40 }],
    },
    [rows.map((r) => r.t), rows.map((r) => r.buy), rows.map((r) => r.sell)],
  )
  fillTable(
    '#notional',
    trading.notional_by_symbol.map((r) => ({
      key: r.symbol,
      cells: [r.symbol, r.trades, number.format(r.notional)],
    })),
  )
  fillTable(
    '#traders',
    trading.top_traders.map((r) => ({
      key: r.token,
      cells: [`${r.token.slice(0, 12)}…`, r.trades, number.format(r.notional)],
    })),
  )
}

function fillTable(selector, rows) {
  const body = document.querySelector(`${selector} tbody`)
  body.replaceChildren(
    ...rows.map((row) =>
      el(
        'tr',
        { 'data-key': row.key },
        ...row.cells.map((cell, i) => el('td', i === 0 ? {} : { class: `c${i}` }, String(cell))),
      ),
    ),
  )
}

function renderPipeline(pipeline, market) {
  const health = document.getElementById('health')
  if (market.newest_bar) {
    const age = market.newest_bar.age_seconds
    text('#newest-bar', `${market.newest_bar.start} (${age} s ago)`)
  }
  if (!pipeline) {
    health.dataset.state = 'waiting'
    health.textContent = 'no pipeline counters (dashboard without a run)'
    return
  }
  text('#sampled', new Date(pipeline.sampled_at).toLocaleTimeString())
  const topics = Object.entries(pipeline.topics)
  document.querySelector('#topics tbody').replaceChildren(
    ...topics.map(([topic, t]) => {
      const lag = Object.entries(t.lag)
        .map(([consumer, value]) => `${consumer} ${value}`)
        .join(', ')
      return el(
        'tr',
        { 'data-topic': topic },
        el('td', {}, topic),
        el('td', { class: 'produced' }, String(t.produced)),
        el('td', { class: `indexed ${t.indexed === t.produced ? 'good' : ''}` }, String(t.indexed)),
        el('td', { class: `landed ${t.landed === t.produced ? 'good' : ''}` }, String(t.landed)),
        el('td', { class: 'quarantined' }, String(t.quarantined)),
        el('td', { class: 'lag' }, lag || '–'),
        el('td', { class: `lost ${t.lost > 0 ? 'bad' : 'good'}` }, String(t.lost)),
      )
    }),
  )
  const reasons = Object.entries(pipeline.quarantined.by_reason)
  text(
    '#quarantine',
    reasons.length === 0
      ? 'quarantined: none'
      : `quarantined ${pipeline.quarantined.total}: ${reasons.map(([r, n]) => `${r} ${n}`).join(', ')}`,
  )
  const lake = pipeline.lake
  const describe = (run) =>
    `${run.name}${run.window ? ` ${run.window.start} → ${run.window.end}` : ''}: ${run.status} ${run.seconds} s${run.error ? ` (${run.error})` : ''}`
  text(
    '#lake',
    lake.current
      ? `${describe(lake.current)}${lake.last ? `; last ${lake.last.status}` : ''}`
      : lake.last
        ? describe(lake.last)
        : 'none yet',
  )
  const lostNode = text('#lost', pipeline.lost === 0 ? 'nothing lost' : `${pipeline.lost} lost`)
  lostNode.className = pipeline.lost === 0 ? 'good' : 'bad'
  const inFlight = topics.some(([, t]) => t.indexed < t.produced || t.landed < t.produced)
  health.dataset.state = pipeline.lost > 0 ? 'lost' : inFlight ? 'busy' : 'ok'
  health.textContent =
    pipeline.lost > 0
      ? `${pipeline.lost} lost`
      : inFlight
        ? 'healthy, records in flight'
        : 'healthy: every produced event in every sink'
}

async function refresh() {
  try {
    const response = await fetch('/api/state', { cache: 'no-store' })
    const state = await response.json()
    if (!response.ok) throw new Error(state.error ?? response.statusText)
    // Up to the end of the current minute: simulated trades execute throughout it.
    hour = [
      Date.parse(state.market.window.start) / 1000,
      Math.ceil(Date.parse(state.market.window.end) / 60_000) * 60 + 60,
    ]
    for (const view of state.market.symbols) renderSymbol(view)
    renderTrading(state.market.trading)
    renderPipeline(state.pipeline, state.market)
    text('#updated', `updated ${new Date().toLocaleTimeString()}`)
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed ?? 0) + 1)
  } catch (error) {
    text('#updated', `refresh failed: ${error.message}`)
  }
}

const config = await fetch('/api/config').then((r) => r.json())
await refresh()
setInterval(refresh, config.refresh_ms)
