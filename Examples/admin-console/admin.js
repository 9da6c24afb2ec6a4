// The Newsroom operator's console, served by the hub at /admin: the hub's topics, generations, last
// errors and the figures of /metrics that matter, refreshed every second over the hub's own
// Server-Sent Events (GET /v1/admin/stream: one JSON snapshot of the whole hub per event), falling back
// to polling GET /v1/admin when the stream cannot be opened. No build step: a plain ES module served at
// /admin/admin.js.
//
// Access: with authentication on, the page is opened as /admin?token=<JWT with admin> and the token is
// sent as a bearer token to the API. Everything the hub reports (topic names, error messages) is
// shown as text, never as markup.

const REFRESH_MS = 1000
const TRANSPORTS = ['sse', 'ws', 'grpc', 'grpc-web', 'socketio']

const $ = (id) => document.getElementById(id)
const params = new URLSearchParams(location.search)
const token = params.get('token')
const authorization = token ? { authorization: `Bearer ${token}` } : {}

// What the page is doing, for people (the state pill) and for the browser tests (window.newsroomAdmin).
const status = {
    state: 'connecting',
    snapshots: 0,
    problem: null,
    cancelled: [],
    last: null,
}
window.newsroomAdmin = status

let previous = null // the last snapshot's metrics and time, for rates
let timer = null

// ---------------------------------------------------------------------------------------------
// Small DOM helpers: elements with text, never markup.

function element(tag, { text, className, title, data } = {}) {
    const node = document.createElement(tag)
    if (text !== undefined && text !== null) node.textContent = String(text)
    if (className) node.className = className
    if (title) node.title = title
    if (data) for (const [key, value] of Object.entries(data)) node.dataset[key] = value
    return node
}

function cell(text, className) {
    return element('td', { text, className })
}

/**
 * Updates a table's rows in place, one row per item (matched by key): rows and their buttons and links
 * stay the same elements from one refresh to the next, so a click that lands during a refresh is not
 * lost; only text that changed is written.
 */
function syncRows(tableId, items, keyOf, fill, empty) {
    const table = $(tableId)
    const body = table.tBodies[0]
    const existing = new Map([...body.rows].map((row) => [row.dataset.key, row]))
    items.forEach((item, index) => {
        const key = keyOf(item)
        let row = existing.get(key)
        if (row) {
            existing.delete(key)
        } else {
            row = document.createElement('tr')
            row.dataset.key = key
        }
        fill(row, item)
        if (body.rows[index] !== row) body.insertBefore(row, body.rows[index] ?? null)
    })
    for (const row of existing.values()) row.remove()
    table.hidden = items.length === 0
    $(empty).hidden = items.length !== 0
}

/** The `index`th cell of `row` (created when missing), its text set if it changed. */
function setCell(row, index, text, className = '') {
    while (row.cells.length <= index) row.append(document.createElement('td'))
    const td = row.cells[index]
    if (td.className !== className) td.className = className
    const value = text === null || text === undefined ? '' : String(text)
    if (td.childElementCount > 0 || td.textContent !== value) td.textContent = value
    return td
}

/** A cell holding one pill with the state's name. */
function setPill(row, index, state) {
    while (row.cells.length <= index) row.append(document.createElement('td'))
    const td = row.cells[index]
    let pill = td.firstElementChild
    if (!pill || pill.tagName !== 'SPAN') {
        pill = element('span', { className: 'pill' })
        td.replaceChildren(pill)
    }
    if (pill.textContent !== state) pill.textContent = state
    pill.dataset.state = state
    return td
}

function age(since, now) {
    const seconds = Math.max(0, Math.round((now - Date.parse(since)) / 1000))
    if (!Number.isFinite(seconds)) return '–'
    if (seconds < 60) return `${seconds} s`
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`
    return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`
}

function formatNumber(value) {
    if (value === null || value === undefined || !Number.isFinite(value)) return '–'
    if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(1)} M`
    if (Math.abs(value) >= 1e4) return `${(value / 1e3).toFixed(1)} k`
    return Number.isInteger(value) ? String(value) : value.toFixed(1)
}

function setState(state, detail = '') {
    status.state = state
    const node = $('state')
    node.dataset.state = state
    node.textContent = detail ? `${state} · ${detail}` : state
}

function notice(text, kind = '') {
    const node = element('div', { text, className: `notice ${kind}`.trim() })
    $('notices').prepend(node)
    while ($('notices').childElementCount > 5) $('notices').lastElementChild.remove()
}

// ---------------------------------------------------------------------------------------------
// Rendering one snapshot.

function render(snapshot) {
    const now = Date.parse(snapshot.time)
    renderFigures(snapshot, now)
    renderTopics(snapshot.topics, now)
    renderGenerations(snapshot.generations, now)
    renderErrors(snapshot.errors)
    $('updated').textContent = `updated ${new Date(now).toLocaleTimeString()}`
}

function renderFigures(snapshot, now) {
    const metrics = snapshot.metrics
    const running = snapshot.generations.filter((g) => g.state === 'running').length
    const streaming = snapshot.topics.filter((t) => t.state === 'streaming').length
    const figures = [
        ['topics streaming', streaming, 'topics-streaming'],
        ['generations running', running, 'generations-running'],
    ]
    $('metrics-note').hidden = metrics !== null
    if (metrics) {
        const rate = (key) => {
            if (!previous || !previous.metrics) return null
            const seconds = (now - previous.time) / 1000
            if (!(seconds > 0)) return null
            return Math.max(0, (metrics[key] - previous.metrics[key]) / seconds)
        }
        figures.push(
            ['connections', metrics.connections, 'connections'],
            ['subscriptions', metrics.subscriptions, 'subscriptions'],
            ['deliveries / s', rate('deliveries_total'), 'deliveries-rate'],
            ['events published / s', rate('events_published_total'), 'published-rate'],
            ['events dropped', metrics.dropped_events_total, 'dropped', metrics.dropped_events_total > 0],
            [
                'slow-consumer disconnects',
                metrics.slow_consumer_disconnects_total,
                'slow-disconnects',
                metrics.slow_consumer_disconnects_total > 0,
            ],
            [
                'publishes refused (overload)',
                metrics.publish_overload_rejections_total,
                'overload',
                metrics.publish_overload_rejections_total > 0,
            ],
        )
    }
    previous = metrics ? { metrics, time: now } : null
    $('figures').replaceChildren(
        ...figures.map(([label, value, id, bad]) => {
            const card = element('div', { className: bad ? 'figure bad' : 'figure', data: { figure: id } })
            card.append(element('div', { text: formatNumber(value), className: 'value' }))
            card.append(element('div', { text: label, className: 'label' }))
            return card
        }),
    )
}

function renderTopics(topics, now) {
    // Live first (streaming, then waiting), then ended; newest first within each.
    const order = { streaming: 0, waiting: 1, ended: 2 }
    const sorted = [...topics].sort(
        (a, b) => (order[a.state] ?? 3) - (order[b.state] ?? 3) || Date.parse(b.created_at) - Date.parse(a.created_at),
    )
    syncRows('topics', sorted, (topic) => topic.name, (row, topic) => {
        row.dataset.topic = topic.name
        if (row.cells.length === 0) {
            const name = element('td')
            const link = element('a', { text: topic.name, className: 'mono', title: 'open in the viewer' })
            const query = new URLSearchParams({ topic: topic.name })
            if (token) query.set('token', token)
            link.href = `/?${query}`
            link.target = '_blank'
            link.rel = 'noopener noreferrer'
            name.append(link)
            row.append(name)
        }
        setPill(row, 1, topic.state)
        setCell(row, 2, topic.subscribers, 'num')
        const byTransport = Object.fromEntries((topic.subscribers_by_transport ?? []).map((t) => [t.transport, t.subscribers]))
        TRANSPORTS.forEach((transport, i) => {
            setCell(row, 3 + i, byTransport[transport] ?? 0, 'num').dataset.transport = transport
        })
        setCell(row, 3 + TRANSPORTS.length, topic.last_seq, 'num')
        setCell(row, 4 + TRANSPORTS.length, age(topic.created_at, now), 'num')
    }, 'topics-empty')
    $('topics-count').textContent = `(${topics.length})`
}

function renderGenerations(generations, now) {
    syncRows('generations', generations, (generation) => generation.generation, (row, generation) => {
        row.dataset.generation = generation.generation
        row.dataset.state = generation.state
        const ended = generation.timings?.completed
        setCell(row, 0, generation.generation, 'mono')
        setCell(row, 1, generation.topic, 'mono')
        setCell(row, 2, generation.provider)
        setCell(row, 3, generation.model ?? '–')
        setPill(row, 4, generation.state)
        setCell(
            row, 5,
            ended ? `${age(generation.timings.queued, Date.parse(ended))} (ended)` : age(generation.timings.queued, now),
            'num',
        )
        while (row.cells.length <= 6) row.append(document.createElement('td'))
        const actions = row.cells[6]
        const button = actions.querySelector('button')
        if (generation.state === 'running' && !button) {
            const cancel = element('button', { text: 'Cancel', title: 'end this answer for every viewer' })
            cancel.type = 'button'
            cancel.dataset.cancel = generation.generation
            const id = generation.generation
            cancel.addEventListener('click', () => {
                // The latest state of the generation (its model may be known only now).
                const latest = status.last?.generations.find((g) => g.generation === id) ?? generation
                confirmCancel(latest, cancel)
            })
            actions.append(cancel)
        } else if (generation.state !== 'running' && button) {
            button.remove()
        }
    }, 'generations-empty')
    const running = generations.filter((g) => g.state === 'running').length
    $('generations-count').textContent = `(${running} running)`
}

function renderErrors(errors) {
    // Newest first and never changed once recorded: the rows are simply rebuilt (no controls in them).
    const rows = errors.map((error) => {
        const row = element('tr', { data: { code: error.code } })
        const time = new Date(Date.parse(error.time))
        row.append(
            cell(Number.isNaN(time.getTime()) ? error.time : time.toLocaleTimeString(), 'num'),
            cell(error.topic, 'mono'),
            cell(error.code, 'mono'),
            cell(error.message, 'message'),
            cell(error.source === 'event' ? 'every viewer' : 'one subscriber'),
        )
        return row
    })
    $('errors').tBodies[0].replaceChildren(...rows)
    $('errors').hidden = rows.length === 0
    $('errors-empty').hidden = rows.length !== 0
    $('errors-count').textContent = `(${errors.length})`
}

// ---------------------------------------------------------------------------------------------
// Cancelling a generation: confirmed first, since it ends the answer for every viewer.

let pendingCancel = null

function confirmCancel(generation, button) {
    pendingCancel = { generation, button }
    $('confirm-cancel-text').textContent =
        `Cancel generation ${generation.generation} (${generation.provider}` +
        `${generation.model ? ` · ${generation.model}` : ''}) on topic ${generation.topic}? ` +
        'The answer ends for every viewer, who will see that it was cancelled.'
    $('confirm-cancel').showModal()
}

async function cancel({ generation, button }) {
    button.disabled = true
    try {
        const response = await fetch(`/v1/generations/${encodeURIComponent(generation.generation)}`, {
            method: 'DELETE',
            headers: authorization,
        })
        const body = await response.json().catch(() => null)
        if (!response.ok) throw new Error(body?.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${response.status}`)
        status.cancelled.push(generation.generation)
        notice(`Generation ${generation.generation} on ${generation.topic}: ${body?.state ?? 'cancelled'}.`)
    } catch (error) {
        button.disabled = false
        notice(`Cancelling ${generation.generation} failed: ${error.message}`, 'error')
    }
    refresh()
}

// ---------------------------------------------------------------------------------------------
// Refreshing.

async function refresh() {
    clearTimeout(timer)
    try {
        const response = await fetch('/v1/admin', { cache: 'no-store', headers: authorization })
        const body = await response.json().catch(() => null)
        if (!response.ok) {
            const message = body?.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${response.status}`
            status.problem = message
            $('problem').textContent = `The hub refused the console's request — ${message}`
            $('problem').hidden = false
            if (response.status === 401 || response.status === 403) {
                setState('refused')
                return // a token does not become admin by waiting
            }
            setState('reconnecting')
        } else {
            status.problem = null
            $('problem').hidden = true
            render(body)
            status.snapshots++
            status.last = body
            setState('live')
        }
    } catch {
        setState('reconnecting')
    }
    // While the stream is live it brings the snapshots; this one was a refresh after a click.
    if (status.transport !== 'sse') timer = setTimeout(refresh, REFRESH_MS)
}

function main() {
    $('confirm-cancel-no').addEventListener('click', () => {
        pendingCancel = null
        $('confirm-cancel').close()
    })
    $('confirm-cancel-yes').addEventListener('click', () => {
        const pending = pendingCancel
        pendingCancel = null
        $('confirm-cancel').close()
        if (pending) cancel(pending)
    })
    follow()
}

// The live stream: one `snapshot` event a second. EventSource cannot send headers, so the token goes
// as ?token=. If the stream fails (refused, or a proxy that buffers it), polling takes over and shows
// why; it tries the stream again after a while.
function follow() {
    if (typeof EventSource !== 'function') return refresh()
    const query = token ? `?token=${encodeURIComponent(token)}` : ''
    const source = new EventSource(`/v1/admin/stream${query}`)
    status.transport = 'sse'
    source.addEventListener('snapshot', (message) => {
        clearTimeout(timer)
        const body = JSON.parse(message.data)
        status.problem = null
        $('problem').hidden = true
        render(body)
        status.snapshots++
        status.last = body
        setState('live')
    })
    source.addEventListener('error', () => {
        if (source.readyState !== EventSource.CLOSED) return setState('reconnecting') // it retries by itself
        source.close()
        status.transport = 'polling'
        refresh()
    })
}

main()
