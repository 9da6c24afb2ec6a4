// The Newsroom web viewer: watches one topic (?topic=NAME) or follows the newest streaming answer,
// over Server-Sent Events or WebSocket (?transport=sse|ws), and renders the answer as Markdown while
// it streams. No build step: a plain ES module served by the hub at /viewer/viewer.js.
//
// Resuming. Every stored event carries a `seq`; the page remembers the last one it applied and
// ignores anything at or below it, so a replay after a reconnect never duplicates text. EventSource
// reconnects by itself and sends Last-Event-ID; the WebSocket path reconnects with exponential
// backoff and jitter to /v1/topics/{topic}/ws?after=<last seq>. Heartbeats and per-subscriber
// notices have no seq and never move the resume point. A `resume_unavailable` notice means the hub
// no longer has the point we asked for: the page starts the answer over from what follows.

import { MarkdownView } from './markdown.js'

const EVENT_TYPES = [
    'stream_start', 'text_delta', 'reasoning_delta', 'tool_call_delta', 'tool_call', 'stream_complete', 'error',
    'heartbeat', 'gap',
]
const TOPIC_NAME = /^[A-Za-z0-9._:-]{1,128}$/
const FOLLOW_POLL_MS = 1000
const VIEWERS_POLL_MS = 2000
const RESUMED_SHOWN_MS = 3000
// Connected with nothing received after this long: the topic has no events yet ("waiting").
const WAITING_AFTER_MS = 150
// How close to the bottom counts as "at the bottom" (following the answer down).
const BOTTOM_SLACK_PX = 48
const COPIED_SHOWN_MS = 1500

const $ = (id) => document.getElementById(id)
const params = new URLSearchParams(location.search)
const pinnedTopic = params.get('topic')
// ?conversation=ID: follow the answers announced on the topic conversation:ID, each as it starts.
const conversation = params.get('conversation')
let transport = params.get('transport') === 'ws' ? 'ws' : 'sse'
// With authentication on, a JWT from ?token=: sent as ?token= to EventSource and WebSocket (which
// cannot send headers) and as a bearer token to fetch.
const token = params.get('token')
const authorization = token ? { authorization: `Bearer ${token}` } : {}
const withToken = (url) => (token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url)

// What the page is doing, for people (the state pill) and for the browser tests (window.newsroomViewer).
const status = {
    state: 'idle',
    states: [],
    topic: null,
    transport,
    lastSeq: 0,
    events: 0,
    connections: 0,
    frames: 0,
    renders: 0,
    longestRenderMs: 0,
    totalRenderMs: 0,
    finishReason: null,
    // With ?conversation=: the answers announced so far (generation_started), in order.
    announced: [],
    // Every copy made with a code block's button: { text, via: 'clipboard' | 'execCommand', ok }.
    copies: [],
    // Whether the page keeps the end of the answer in view (until the reader scrolls up).
    following: true,
    answerText: () => (current ? current.answer.text() : ''),
}
window.newsroomViewer = status

// ---------------------------------------------------------------------------------------------
// One render per animation frame, whatever the event rate.

const frameTasks = new Set()
let frameRequested = false

function onNextFrame(task) {
    frameTasks.add(task)
    if (!frameRequested) {
        frameRequested = true
        requestAnimationFrame(runFrame)
    }
}

function runFrame() {
    frameRequested = false
    const tasks = [...frameTasks]
    frameTasks.clear()
    status.frames++
    for (const task of tasks) task()
    stickToBottom()
}

/** Something below the answer changed (a notice, the footer): keep it in view on the next frame. */
function contentChanged() {
    onNextFrame(() => {})
}

// ---------------------------------------------------------------------------------------------
// Following the answer down: while the reader has not scrolled up, each frame that changed the page
// scrolls to its end. Scrolling up (or a wheel, key or touch gesture upwards) stops that and shows a
// "jump to latest" button; scrolling back to the end, or the button, starts it again.

function distanceFromBottom() {
    const page = document.scrollingElement
    return page.scrollHeight - (page.scrollTop + window.innerHeight)
}

function stickToBottom() {
    if (status.following) {
        if (distanceFromBottom() > 1) window.scrollTo(0, document.scrollingElement.scrollHeight)
    }
    updateJumpButton()
}

function updateJumpButton() {
    $('jump').hidden = status.following || distanceFromBottom() <= BOTTOM_SLACK_PX
}

function setFollowing(following) {
    status.following = following
    updateJumpButton()
}

function watchScrolling() {
    // Content growing does not fire `scroll`; only the reader, or our own scrollTo to the end, does.
    window.addEventListener('scroll', () => {
        const atBottom = distanceFromBottom() <= BOTTOM_SLACK_PX
        if (atBottom !== status.following) setFollowing(atBottom)
        else updateJumpButton()
    }, { passive: true })
    // Intent to go up stops following at once, before the next frame could scroll back down.
    window.addEventListener('wheel', (event) => {
        if (event.deltaY < 0) setFollowing(false)
    }, { passive: true })
    window.addEventListener('keydown', (event) => {
        if (['ArrowUp', 'PageUp', 'Home'].includes(event.key) && !event.target.closest?.('input, textarea, dialog')) {
            setFollowing(false)
        }
    })
    let touchY = null
    window.addEventListener('touchstart', (event) => {
        touchY = event.touches[0]?.clientY ?? null
    }, { passive: true })
    window.addEventListener('touchmove', (event) => {
        const y = event.touches[0]?.clientY
        if (touchY !== null && y !== undefined && y > touchY + 4) setFollowing(false)
    }, { passive: true })
    $('jump').addEventListener('click', () => {
        setFollowing(true)
        window.scrollTo(0, document.scrollingElement.scrollHeight)
        updateJumpButton()
    })
}

// ---------------------------------------------------------------------------------------------
// Copy buttons on code blocks. The button is the viewer's own (marked data-ui); what it copies is
// the code element's text, set with textContent and read back the same way, never as markup.

function addCopyButtons(container) {
    for (const pre of container.querySelectorAll('pre')) {
        if (pre.firstElementChild?.classList.contains('copy-code')) continue
        const button = document.createElement('button')
        button.type = 'button'
        button.className = 'copy-code'
        button.dataset.ui = ''
        button.title = 'copy the code'
        button.textContent = 'Copy'
        pre.prepend(button)
    }
}

async function copyCode(button) {
    const code = button.parentElement?.querySelector(':scope > code')
    if (!code) return
    const text = code.textContent
    let via = 'clipboard'
    let ok = false
    try {
        if (!navigator.clipboard?.writeText) throw new Error('no asynchronous clipboard')
        await navigator.clipboard.writeText(text)
        ok = true
    } catch {
        via = 'execCommand'
        ok = copyWithSelection(text)
    }
    status.copies.push({ text, via, ok })
    button.textContent = ok ? 'Copied' : 'Copy failed'
    if (ok) button.dataset.copied = ''
    clearTimeout(button.resetTimer)
    button.resetTimer = setTimeout(() => {
        button.textContent = 'Copy'
        delete button.dataset.copied
    }, COPIED_SHOWN_MS)
}

/** The old way: select the text in an off-screen textarea (its value, not markup) and copy. */
function copyWithSelection(text) {
    const area = document.createElement('textarea')
    area.value = text
    area.setAttribute('readonly', '')
    area.className = 'offscreen'
    document.body.append(area)
    area.select()
    let ok = false
    try {
        ok = document.execCommand('copy')
    } catch {
        ok = false
    }
    area.remove()
    return ok
}

function recordRender(ms) {
    status.renders++
    status.totalRenderMs += ms
    if (ms > status.longestRenderMs) status.longestRenderMs = ms
}

// ---------------------------------------------------------------------------------------------
// The answer on screen.

class Answer {
    constructor() {
        this.views = new Map()
        this.reasoningPending = ''
        this.reasoningLength = 0
        this.tools = new Map()
        this.finished = false
        $('answer').replaceChildren()
        $('choices').replaceChildren()
        $('tools').replaceChildren()
        $('notices').replaceChildren()
        $('reasoning-text').replaceChildren()
        $('reasoning').hidden = true
        $('reasoning').open = false
        $('meta').textContent = ''
        $('footer').textContent = ''
        $('waiting-note').hidden = true
    }

    text(index = 0) {
        return this.views.get(index)?.text ?? ''
    }

    view(index) {
        let view = this.views.get(index)
        if (!view) {
            let element = $('answer')
            if (index !== 0) {
                const section = document.createElement('section')
                section.className = 'choice'
                const title = document.createElement('h2')
                title.className = 'choice-title'
                title.textContent = `Choice ${index}`
                element = document.createElement('article')
                element.className = 'answer markdown'
                section.append(title, element)
                $('choices').append(section)
            }
            view = new MarkdownView(element, {
                schedule: onNextFrame,
                onRender: (ms) => {
                    recordRender(ms)
                    addCopyButtons(element)
                },
            })
            this.views.set(index, view)
        }
        return view
    }

    apply(event) {
        switch (event.type) {
            case 'stream_start':
                $('meta').textContent = [event.provider, event.model, event.generation].filter(Boolean).join(' · ')
                break
            case 'text_delta':
                this.view(event.index ?? 0).append(event.text ?? '')
                break
            case 'reasoning_delta':
                this.reasoningPending += event.text ?? ''
                $('reasoning').hidden = false
                onNextFrame(this.flushReasoning)
                break
            case 'tool_call_delta': {
                const tool = this.tool(event.index ?? 0)
                if (event.name) tool.name = event.name
                if (event.call_id) tool.callID = event.call_id
                tool.arguments += event.arguments_delta ?? ''
                onNextFrame(tool.render)
                break
            }
            case 'tool_call': {
                const tool = this.tool(event.index ?? 0)
                tool.name = event.name
                tool.callID = event.call_id
                tool.arguments = event.arguments ?? ''
                tool.complete = true
                onNextFrame(tool.render)
                break
            }
            case 'stream_complete':
                this.finish()
                $('footer').textContent = describeCompletion(event)
                if (event.finish_reason === 'cancelled') {
                    this.notice('This answer was cancelled: it was stopped for every viewer before it finished.', 'cancelled')
                }
                contentChanged()
                break
            case 'error':
                this.notice(`${event.code}: ${event.message}`, event.retryable ? 'retryable' : 'error')
                break
            case 'gap':
                this.notice(`missed events ${event.from}–${event.to} (this viewer fell behind)`, 'gap')
                break
        }
    }

    /** Stops every pending render of this answer (another answer takes the page). */
    dispose() {
        this.disposed = true
        for (const view of this.views.values()) view.close()
    }

    flushReasoning = () => {
        if (this.disposed || this.reasoningPending === '') return
        const started = performance.now()
        const element = $('reasoning-text')
        if (element.lastChild) element.lastChild.appendData(this.reasoningPending)
        else element.append(document.createTextNode(this.reasoningPending))
        this.reasoningLength += this.reasoningPending.length
        this.reasoningPending = ''
        $('reasoning-size').textContent = `(${this.reasoningLength} characters)`
        recordRender(performance.now() - started)
    }

    tool(index) {
        let tool = this.tools.get(index)
        if (!tool) {
            const element = document.createElement('div')
            element.className = 'tool-call'
            element.dataset.index = String(index)
            const head = document.createElement('div')
            head.className = 'tool-head'
            const name = document.createElement('span')
            name.className = 'tool-name'
            const state = document.createElement('span')
            state.className = 'tool-state'
            head.append(name, state)
            const args = document.createElement('pre')
            args.className = 'tool-arguments'
            element.append(head, args)
            $('tools').append(element)
            tool = { name: '', callID: '', arguments: '', complete: false }
            tool.render = () => {
                if (this.disposed) return
                name.textContent = tool.name || '…'
                state.textContent = tool.complete ? 'called' : 'forming…'
                element.classList.toggle('complete', tool.complete)
                args.textContent = tool.complete ? prettyJSON(tool.arguments) : tool.arguments
            }
            this.tools.set(index, tool)
        }
        return tool
    }

    notice(text, kind) {
        const element = document.createElement('div')
        element.className = `notice ${kind}`
        element.textContent = text
        $('notices').append(element)
        contentChanged()
    }

    finish() {
        if (this.finished) return
        this.finished = true
        this.flushReasoning()
        for (const view of this.views.values()) view.finish()
        for (const tool of this.tools.values()) tool.render()
    }
}

function prettyJSON(text) {
    try {
        return JSON.stringify(JSON.parse(text), null, 2)
    } catch {
        return text
    }
}

function describeCompletion(event) {
    const parts = [`finished: ${event.finish_reason}`]
    if (event.usage) parts.push(`${event.usage.input_tokens ?? '?'} in / ${event.usage.output_tokens ?? '?'} out tokens`)
    return parts.join(' · ')
}

// ---------------------------------------------------------------------------------------------
// Watching one topic over SSE or WebSocket, resuming after the last seq.

class TopicWatch {
    constructor(topic, transportName, { onEnd = () => {} } = {}) {
        this.topic = topic
        this.transport = transportName
        this.onEnd = onEnd
        this.answer = new Answer()
        this.lastSeq = 0
        this.ended = false
        this.stopped = false
        this.connectedBefore = false
        this.attempts = 0
        this.source = null
        this.socket = null
        this.retryTimer = null
        this.resumedTimer = null
        this.viewersTimer = null
        this.waitingTimer = null
        // Whether the page holds a subscription now, and the poll whose answer may be shown.
        this.subscribed = false
        this.viewersPoll = 0
        this.viewers = null
        status.topic = topic
        status.lastSeq = 0
        status.finishReason = null
        $('topic-label').textContent = topic
        $('topic-label').href = `?topic=${topic}&transport=${transportName}`
        // Enabled once the answer has started (its first event).
        $('cancel').disabled = true
        this.showViewers()
        setFollowing(true)
    }

    start() {
        this.connect()
        this.pollViewers()
    }

    stop() {
        this.stopped = true
        this.answer.dispose()
        this.disconnect()
        clearTimeout(this.viewersTimer)
        clearTimeout(this.waitingTimer)
    }

    setTransport(name) {
        this.transport = name
        if (this.ended || this.stopped) return
        this.disconnect()
        this.connect()
    }

    disconnect() {
        this.subscribed = false
        clearTimeout(this.retryTimer)
        clearTimeout(this.resumedTimer)
        clearTimeout(this.waitingTimer)
        if (this.source) this.source.close()
        if (this.socket) {
            this.socket.onclose = this.socket.onmessage = this.socket.onerror = null
            this.socket.close()
        }
        this.source = null
        this.socket = null
    }

    connect() {
        if (this.stopped || this.ended) return
        if (!this.connectedBefore) setState('connecting')
        status.connections++
        if (this.transport === 'ws') this.connectWebSocket()
        else this.connectEventSource()
    }

    connected() {
        this.subscribed = true
        // Ask again now that the hub counts this page (an answer to an earlier poll is dropped).
        this.pollViewers()
        const resumed = this.connectedBefore
        this.connectedBefore = true
        this.attempts = 0
        if (!resumed) {
            if (this.started) return setState('live')
            // Nothing yet: either the replay is on its way, or the topic has no events — then say so.
            clearTimeout(this.waitingTimer)
            this.waitingTimer = setTimeout(() => {
                if (!this.started && !this.ended && !this.stopped) {
                    setState('waiting', 'for the answer to start')
                    $('waiting-note').hidden = false
                }
            }, WAITING_AFTER_MS)
            return
        }
        setState('resumed', `after seq ${this.lastSeq}`)
        clearTimeout(this.resumedTimer)
        this.resumedTimer = setTimeout(() => {
            if (status.state === 'resumed') setState('live')
        }, RESUMED_SHOWN_MS)
    }

    connectEventSource() {
        // The first request resumes with ?after=; EventSource's own reconnects send Last-Event-ID.
        const query = this.lastSeq > 0 ? `?after=${this.lastSeq}` : ''
        const source = new EventSource(withToken(`/v1/topics/${this.topic}/events${query}`))
        this.source = source
        source.onopen = () => this.connected()
        source.onerror = (event) => {
            // The hub's own `error` events arrive as MessageEvents named "error" too: not a failure.
            if (event instanceof MessageEvent) return
            if (this.source !== source || this.ended) return
            if (source.readyState === EventSource.CONNECTING) {
                setState('reconnecting')
                return
            }
            // Closed for good: the hub answered something other than a stream (204 at the end, an
            // error status). Ask the hub what the topic's state is, then end or retry with backoff.
            source.close()
            this.source = null
            this.checkEndOrRetry()
        }
        const handle = (message) => {
            if (this.source === source && message instanceof MessageEvent) this.receive(message.data)
        }
        for (const type of EVENT_TYPES) source.addEventListener(type, handle)
        source.onmessage = handle
    }

    connectWebSocket() {
        const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
        const query = this.lastSeq > 0 ? `?after=${this.lastSeq}` : ''
        const socket = new WebSocket(withToken(`${scheme}://${location.host}/v1/topics/${this.topic}/ws${query}`))
        this.socket = socket
        socket.onopen = () => this.connected()
        socket.onmessage = (message) => this.receive(message.data)
        socket.onclose = (close) => {
            if (this.socket !== socket) return
            this.socket = null
            if (this.ended || this.stopped) return
            // 1000: the stream ended (or our resume point is its end). Anything else: resume.
            if (close.code === 1000) return this.checkEndOrRetry()
            this.retry()
        }
    }

    retry() {
        if (this.stopped || this.ended) return
        setState('reconnecting')
        const delay = Math.min(10000, 250 * 2 ** Math.min(this.attempts, 10)) * (0.5 + Math.random())
        this.attempts++
        clearTimeout(this.retryTimer)
        this.retryTimer = setTimeout(() => this.connect(), delay)
    }

    async checkEndOrRetry() {
        try {
            const response = await fetch(`/v1/topics/${this.topic}`, { cache: 'no-store', headers: authorization })
            if (response.ok) {
                const topic = await response.json()
                if (topic.state === 'ended' && this.lastSeq >= topic.last_seq) return this.end()
            }
        } catch {
            // the hub is unreachable: retry below
        }
        this.retry()
    }

    receive(data) {
        let event
        try {
            event = JSON.parse(data)
        } catch {
            return
        }
        status.events++
        if (typeof event.seq === 'number') {
            if (event.seq <= this.lastSeq) return // already applied (a replay overlapping what we have)
            this.lastSeq = event.seq
            status.lastSeq = event.seq
        } else if (event.type === 'error' && event.code === 'resume_unavailable') {
            // The hub cannot resume from our point: what follows is the history from its start.
            this.answer.dispose()
            this.answer = new Answer()
            this.answer.notice('the hub could not resume from the last event; the answer was rebuilt', 'retryable')
            this.lastSeq = 0
            status.lastSeq = 0
            return
        } else if (event.type === 'heartbeat') {
            return
        }
        if (!this.started) {
            // The answer has started: live, and it can be cancelled.
            this.started = true
            clearTimeout(this.waitingTimer)
            $('waiting-note').hidden = true
            if (status.state === 'waiting' || status.state === 'connecting') setState('live')
            $('cancel').disabled = false
        }
        this.answer.apply(event)
        const terminal = event.type === 'stream_complete' || (event.type === 'error' && event.terminal === true)
        if (terminal) {
            if (event.type === 'stream_complete') status.finishReason = event.finish_reason
            this.end()
        }
    }

    end() {
        if (this.ended) return
        this.ended = true
        this.answer.finish()
        this.disconnect()
        setState('ended')
        $('cancel').disabled = true
        $('waiting-note').hidden = true
        this.showViewers()
        this.onEnd(this)
    }

    /**
     * Polls the topic's subscriber count. Only the newest poll's answer is shown and only it schedules
     * the next one, so an answer from before the page subscribed never overwrites a later one.
     */
    async pollViewers() {
        clearTimeout(this.viewersTimer)
        if (this.stopped) return
        const poll = ++this.viewersPoll
        try {
            const response = await fetch(`/v1/topics/${this.topic}`, { cache: 'no-store', headers: authorization })
            if (response.ok && !this.stopped && poll === this.viewersPoll) {
                const topic = await response.json()
                if (poll === this.viewersPoll) {
                    this.viewers = topic.subscribers ?? 0
                    this.showViewers()
                }
            }
        } catch {
            // try again on the next tick
        }
        if (!this.stopped && poll === this.viewersPoll) {
            this.viewersTimer = setTimeout(() => this.pollViewers(), VIEWERS_POLL_MS)
        }
    }

    /**
     * The count shown includes this page from the first moment: until the answer ends the page is a
     * viewer (subscribed, or about to be), so it shows at least 1 even before the hub has counted it.
     */
    showViewers() {
        const watching = !this.ended && !this.stopped
        if (this.viewers === null && !watching) return
        const count = watching ? Math.max(1, this.viewers ?? 0) : this.viewers
        $('viewers').textContent = `${count} watching`
        status.viewers = count
    }

    /** Asks first: cancelling ends the answer for every viewer, not only for this page. */
    confirmCancel() {
        if (this.ended || !this.started) return
        const others = (this.viewers ?? 1) - 1
        $('confirm-cancel-text').textContent =
            `Cancel the answer on ${this.topic}? This stops it for every viewer` +
            (others > 0 ? ` (${others} other${others === 1 ? '' : 's'} watching now)` : '') +
            ', not only for you, and cannot be undone.'
        $('confirm-cancel').showModal()
    }

    async cancel() {
        const button = $('cancel')
        button.disabled = true
        try {
            if (this.transport === 'ws') {
                await cancelOverWebSocket(this.topic)
            } else {
                const response = await fetch(`/v1/topics/${this.topic}`, { method: 'DELETE', headers: authorization })
                if (!response.ok && response.status !== 204) throw new Error(`HTTP ${response.status}`)
            }
        } catch (error) {
            this.answer.notice(`cancel failed: ${error.message}`, 'error')
            button.disabled = this.ended
        }
    }
}

/** Sends {"op":"cancel","topic":…} over the multiplexed socket /v1/ws and waits for the reply. */
function cancelOverWebSocket(topic) {
    return new Promise((resolve, reject) => {
        const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
        const socket = new WebSocket(withToken(`${scheme}://${location.host}/v1/ws`))
        const timer = setTimeout(() => {
            socket.close()
            reject(new Error('no reply'))
        }, 5000)
        socket.onopen = () => socket.send(JSON.stringify({ op: 'cancel', topic, id: 1 }))
        socket.onmessage = (message) => {
            let reply
            try {
                reply = JSON.parse(message.data)
            } catch {
                return
            }
            if (reply.id !== 1) return
            clearTimeout(timer)
            socket.close()
            if (reply.op === 'ok') resolve()
            else reject(new Error(`${reply.code}: ${reply.message}`))
        }
        socket.onerror = () => {
            clearTimeout(timer)
            reject(new Error('WebSocket error'))
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Following the newest streaming topic (no ?topic=).

let current = null
let currentCreated = null // the listing entry of the followed topic (for its created_at)

function watch(topic, listing = null) {
    currentCreated = listing ?? { name: topic, created_at: '' }
    if (current) current.stop()
    current = new TopicWatch(topic, transport)
    current.start()
}

function newest(topics) {
    let best = null
    for (const topic of topics) {
        if (!best || compareCreated(topic, best) > 0) best = topic
    }
    return best
}

function oldest(topics) {
    let best = null
    for (const topic of topics) {
        if (!best || compareCreated(topic, best) < 0) best = topic
    }
    return best
}

function compareCreated(a, b) {
    const ta = Date.parse(a.created_at)
    const tb = Date.parse(b.created_at)
    if (!Number.isNaN(ta) && !Number.isNaN(tb) && ta !== tb) return ta - tb
    if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0
}

async function follow() {
    try {
        const response = await fetch('/v1/topics', { cache: 'no-store', headers: authorization })
        if (response.ok) {
            const { topics } = await response.json()
            const answers = topics.filter((t) => t.last_seq > 0 || t.state === 'streaming')
            const streaming = newest(answers.filter((t) => t.state === 'streaming'))
            const mine = current && topics.find((t) => t.name === current.topic)
            if (mine) currentCreated = mine
            if (!current) {
                // Nothing shown yet: the newest streaming answer, or else the newest answer at all.
                const pick = streaming ?? newest(answers)
                if (pick) watch(pick.name, pick)
                else setState('waiting')
            } else if (current.ended || !mine) {
                // Ours ended (or expired): on to the next answer — the newest one that started after
                // it, even if it already ended between two polls.
                const later = answers.filter((t) => t.name !== current.topic && compareCreated(t, currentCreated) > 0)
                const next = newest(later.filter((t) => t.state === 'streaming')) ?? oldest(later)
                if (next) watch(next.name, next)
            }
        }
    } catch {
        // the hub is unreachable; keep polling
    }
    setTimeout(follow, FOLLOW_POLL_MS)
}

// ---------------------------------------------------------------------------------------------
// Following a conversation (?conversation=ID): its topic announces each answer as it starts.

function followConversation(id) {
    const topic = `conversation:${id}`
    let lastSeq = 0
    let switchTimer = null
    let latest = null
    const connect = () => {
        const query = lastSeq > 0 ? `?after=${lastSeq}` : ''
        const source = new EventSource(withToken(`/v1/topics/${topic}/events${query}`))
        // The hub names its SSE events after their type.
        source.addEventListener('generation_started', (message) => {
            let event
            try {
                event = JSON.parse(message.data)
            } catch {
                return
            }
            if (typeof event.seq === 'number') {
                if (event.seq <= lastSeq) return
                lastSeq = event.seq
            }
            if (!TOPIC_NAME.test(event.answer_topic ?? '')) return
            status.announced.push(event.answer_topic)
            latest = event.answer_topic
            // The history arrives in one burst: switch once, to the newest answer, not through each.
            clearTimeout(switchTimer)
            switchTimer = setTimeout(() => {
                if (!current || current.topic !== latest) watch(latest)
            }, 50)
        })
        source.onerror = () => {
            if (source.readyState === EventSource.CLOSED) {
                source.close()
                setTimeout(connect, 1000)
            }
        }
    }
    connect()
}

// ---------------------------------------------------------------------------------------------
// The page.

function setState(state, detail = '') {
    status.state = state
    status.states.push(state)
    const pill = $('state')
    pill.dataset.state = state
    pill.textContent = detail ? `${state} · ${detail}` : state
}

function setTransport(name) {
    transport = name === 'ws' ? 'ws' : 'sse'
    status.transport = transport
    const url = new URL(location.href)
    url.searchParams.set('transport', transport)
    history.replaceState(null, '', url)
    for (const input of document.querySelectorAll('input[name=transport]')) input.checked = input.value === transport
    if (current) current.setTransport(transport)
}

function main() {
    for (const input of document.querySelectorAll('input[name=transport]')) {
        input.checked = input.value === transport
        input.addEventListener('change', () => setTransport(input.value))
    }
    $('cancel').addEventListener('click', () => current?.confirmCancel())
    $('confirm-cancel-no').addEventListener('click', () => $('confirm-cancel').close())
    $('confirm-cancel-yes').addEventListener('click', () => {
        $('confirm-cancel').close()
        current?.cancel()
    })
    document.addEventListener('click', (event) => {
        const button = event.target.closest?.('button.copy-code')
        if (button && $('answer').parentElement.contains(button)) copyCode(button)
    })
    watchScrolling()
    if (pinnedTopic !== null) {
        $('follow-note').textContent = ''
        if (!TOPIC_NAME.test(pinnedTopic)) {
            $('topic-label').textContent = pinnedTopic
            setState('error', 'topic names are [A-Za-z0-9._:-]{1,128}')
            $('cancel').disabled = true
            return
        }
        watch(pinnedTopic)
    } else if (conversation !== null) {
        $('cancel').disabled = true
        if (!TOPIC_NAME.test(`conversation:${conversation}`)) {
            $('topic-label').textContent = conversation
            setState('error', 'conversation ids are [A-Za-z0-9._:-], at most 115 characters')
            return
        }
        $('follow-note').textContent = `following conversation ${conversation}`
        $('topic-label').textContent = '—'
        setState('waiting')
        followConversation(conversation)
    } else {
        $('follow-note').textContent = 'following the newest answer'
        $('topic-label').textContent = '—'
        $('cancel').disabled = true
        follow()
    }
}

main()
