import Logging
import NIOCore
import NewsroomCore
import Synchronization

/// Why a generation was stopped from outside its stream.
enum AbortReason: Sendable, Hashable {
    /// `cancel(generation:)` / `cancel(topic:)`.
    case cancelled
    /// `cancel_when_idle`: the topic had no subscriber for that long.
    case noSubscribers
    /// The manager is shutting down.
    case shutdown
    /// A timeout fired.
    case timeout(Timeout)
    /// The topic was ended by someone else (nothing more can be published).
    case topicEnded

    enum Timeout: String, Sendable {
        case firstByte = "first byte"
        case idle = "idle"
        case total = "total"
    }
}

/// One generation: its fixed inputs, and the state shared by its stream task, its watchdog and the
/// manager's `cancel`/`info` calls (behind a `Mutex`; every critical section is short and never
/// awaits — the hub's `publish` it calls is synchronous and non-blocking).
///
/// All publishing for the generation goes through ``publish(_:receivedAt:)``, which keeps the topic's
/// invariants however the stream, a timeout and a cancellation race: `stream_start` first, nothing
/// after the terminal event, exactly one terminal event.
final class GenerationRun: Sendable {
    let id: String
    let topic: String
    let provider: String
    let adapter: any UpstreamAdapter
    let request: UpstreamRequest
    let traceHeaders: [(String, String)]
    /// Who started it (for the per-owner limit).
    let owner: String?
    let cancelWhenIdle: TimeAmount?
    let startedAt: NIODeadline
    let redactor: SecretRedactor
    let logger: Logger
    /// A proxied request's relay to its caller, or `nil` for a generation of `/v1/generations`.
    let proxy: ProxySession?
    /// The conversation topic the run is announced on, and the prompt to announce (opt-in).
    let conversationTopic: String?
    let announcedPrompt: String?

    struct State {
        var info: GenerationInfo
        var abort: AbortReason?
        var task: Task<Void, Never>?
        var startPublished = false
        var terminalPublished = false
        /// When the current attempt was sent; `nil` while backing off.
        var attemptStartedAt: NIODeadline?
        var firstByteAt: NIODeadline?
        var lastChunkAt: NIODeadline?
        var unwatchedSince: NIODeadline
        var endedAt: NIODeadline?
        /// A proxied request failed in a way its caller's SDK retries: the topic stays open for the retry.
        var leftOpen = false
    }

    let state: Mutex<State>

    init(
        id: String, topic: String, provider: String, adapter: any UpstreamAdapter, request: UpstreamRequest,
        traceHeaders: [(String, String)], cancelWhenIdle: TimeAmount?, owner: String? = nil, redactor: SecretRedactor,
        logger: Logger, proxy: ProxySession? = nil, conversationTopic: String? = nil, announcedPrompt: String? = nil
    ) {
        self.proxy = proxy
        self.conversationTopic = conversationTopic
        self.announcedPrompt = announcedPrompt
        self.id = id
        self.topic = topic
        self.provider = provider
        self.adapter = adapter
        self.request = request
        self.traceHeaders = traceHeaders
        self.owner = owner
        self.cancelWhenIdle = cancelWhenIdle
        self.redactor = redactor
        self.logger = logger
        let now = NIODeadline.now()
        self.startedAt = now
        self.state = Mutex(
            State(
                info: GenerationInfo(
                    id: id, topic: topic, provider: provider, model: request.model, state: .running, queuedAt: .now()),
                unwatchedSince: now))
    }

    var context: UpstreamStreamContext {
        UpstreamStreamContext(generation: self.id, provider: self.provider, requestedModel: self.request.model)
    }

    var info: GenerationInfo { self.state.withLock { $0.info } }
    var abortReason: AbortReason? { self.state.withLock { $0.abort } }

    /// With a broker: the batches to publish, in order, drained by one forwarding task per run.
    let outbox: (stream: AsyncStream<[EventPayload]>, continuation: AsyncStream<[EventPayload]>.Continuation) =
        AsyncStream.makeStream(of: [EventPayload].self, bufferingPolicy: .unbounded)
    var hasEnded: Bool { self.state.withLock { $0.terminalPublished } }

    /// Records the task running the generation; cancels it at once if an abort came first.
    func attach(task: Task<Void, Never>) {
        let cancelNow = self.state.withLock { state -> Bool in
            state.task = task
            return state.abort != nil
        }
        if cancelNow { task.cancel() }
    }

    /// Stops the generation for `reason`: the first reason wins, and nothing happens once the topic has
    /// its terminal event. Cancels the task, which aborts the upstream request at once.
    @discardableResult
    func abort(_ reason: AbortReason) -> Bool {
        let task = self.state.withLock { state -> Task<Void, Never>?? in
            guard state.abort == nil, !state.terminalPublished else { return nil }
            state.abort = reason
            return .some(state.task)
        }
        guard let task else { return false }
        task?.cancel()
        return true
    }

    // MARK: Timing (for the watchdog)

    func beginAttempt() {
        self.state.withLock { $0.attemptStartedAt = .now() }
    }

    func endAttempt() {
        self.state.withLock { $0.attemptStartedAt = nil }
    }

    /// Notes a body chunk; returns whether it was the first byte of the body.
    func noteChunk(at now: NIODeadline) -> Bool {
        self.state.withLock { state in
            state.lastChunkAt = now
            guard state.firstByteAt == nil else { return false }
            state.firstByteAt = now
            return true
        }
    }

    // MARK: Publishing

    enum PublishOutcome {
        /// Published; `true` when the batch ended the topic.
        case published(Topic.PublishReceipt, ended: Bool)
        /// Nothing to publish, or the topic has already ended (by this run or by someone else).
        case dropped
    }

    /// Publishes a batch to the topic, keeping the invariants: `stream_start` is made first if the
    /// batch would come before it, a second `stream_start` is dropped, nothing is published after the
    /// terminal event, and error messages are scrubbed of API keys. Updates the generation's info.
    func publish(
        _ payloads: [EventPayload], commit: ([EventPayload]) throws(HubError) -> Topic.PublishReceipt
    ) -> PublishOutcome {
        self.state.withLock { state -> PublishOutcome in
            guard !state.terminalPublished, !payloads.isEmpty else { return .dropped }
            var batch: [EventPayload] = []
            batch.reserveCapacity(payloads.count + 1)
            for payload in payloads {
                switch payload {
                case .streamStart(let start):
                    if state.startPublished || !batch.isEmpty { continue }
                    if let model = start.model { state.info.model = model }
                    batch.append(payload)
                case .error(var error):
                    error.message = self.redactor.redact(error.message)
                    batch.append(.error(error))
                default:
                    batch.append(payload)
                }
                if payload.isTerminal { break }
            }
            if !state.startPublished, batch.first?.type != .streamStart {
                batch.insert(
                    .streamStart(StreamStart(generation: self.id, provider: self.provider, model: state.info.model)),
                    at: 0)
            }
            let receipt: Topic.PublishReceipt
            do throws(HubError) {
                receipt = try commit(batch)
            } catch {
                // Ended by someone else, removed, or the hub is shutting down: nothing more can go there.
                self.logger.debug("publish refused", metadata: ["newsroom.hub.error": "\(error.code)"])
                state.terminalPublished = true
                if state.abort == nil { state.abort = .topicEnded }
                state.info.state = .failed
                state.info.completedAt = .now()
                state.endedAt = .now()
                return .dropped
            }
            state.startPublished = true
            var ended = false
            for payload in batch {
                switch payload {
                case .textDelta, .reasoningDelta, .toolCallDelta, .toolCall:
                    if state.info.firstTokenAt == nil {
                        let now = Timestamp.now()
                        state.info.firstTokenAt = now
                        self.logger.info(
                            "generation first token",
                            metadata: [
                                "newsroom.ttft_ms": "\(now.millisecondsSince1970 - state.info.queuedAt.millisecondsSince1970)"
                            ])
                    }
                case .streamComplete(let complete):
                    ended = true
                    state.info.usage = complete.usage
                    state.info.finishReason = complete.finishReason
                    state.info.completedAt = .now()
                    state.info.state =
                        switch complete.finishReason {
                        case .cancelled: .cancelled
                        case .error: .failed
                        default: .completed
                        }
                case .error(let error) where error.terminal:
                    ended = true
                    state.info.state = .failed
                    state.info.completedAt = .now()
                default:
                    break
                }
            }
            if ended {
                state.terminalPublished = true
                state.endedAt = .now()
            }
            return .published(receipt, ended: ended)
        }
    }
}
