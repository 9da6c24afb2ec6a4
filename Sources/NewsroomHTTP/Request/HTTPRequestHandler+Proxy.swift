import Synchronization
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NewsroomAuth
import NewsroomControl
import NewsroomCore

/// Provider APIs on the hub (`POST /v1/chat/completions`, `/v1/responses`, `/v1/messages`): the request
/// goes to the control service, which forwards it to the provider; the provider's answer comes back
/// through an ``HTTPProxyRelay`` as it arrives (head, body pieces, end), on this request's response.
extension HTTPRequestHandler {
    /// The headers a caller's SDK sends that the provider must see (API versions and betas).
    static let forwardedProxyHeaders = ["anthropic-version", "anthropic-beta", "openai-beta"]

    func proxy(_ endpoint: ProxyEndpoint, request: APIRequest, context: ChannelHandlerContext) {
        let head = request.head
        let detach = head.headers.first(name: "x-newsroom-detach")?.lowercased() == "true"
        let relay = HTTPProxyRelay(
            handler: self, context: context, request: head, cors: self.dependencies.cors.responseHeaders(for: head))
        self.proxyRelay = relay
        var call = ProxyCall(
            endpoint: endpoint, body: request.body,
            forwardedHeaders: Self.forwardedProxyHeaders.compactMap { name in head.headers.first(name: name).map { (name, $0) } },
            sdkCredential: Credentials.bearerToken(authorization: head.headers.first(name: "authorization"))
                ?? head.headers.first(name: "x-api-key"),
            hubToken: head.headers.first(name: "x-newsroom-token"), topic: head.headers.first(name: "x-newsroom-topic"),
            detach: detach, cancelWhenIdle: head.headers.first(name: "x-newsroom-cancel-when-idle"), traceHeaders: HTTPCredentials.traceHeaders(of: head), relay: relay)
        call.conversation = head.headers.first(name: "x-newsroom-conversation")
        call.announcePrompt = head.headers.first(name: "x-newsroom-announce-prompt")?.lowercased() == "true"
        let control = self.dependencies.control
        let promise = context.eventLoop.makePromise(of: Result<GenerationInfo, ControlError>.self)
        promise.completeWithTask {
            do throws(ControlError) {
                return .success(try await control.proxy(call))
            } catch {
                return .failure(error)
            }
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { result in
            let (handler, context) = loopBound.value
            switch result {
            case .success(let info):
                // Not once the answer has ended (a quick error answer can be relayed whole before this
                // hop): the caller's later close would then cancel a finished generation, and end a
                // topic left open for the SDK's retry.
                guard !detach, handler.proxyRelay === relay else { return }
                handler.proxiedGeneration = info.id
                // The caller may have left while the request was being forwarded.
                if !context.channel.isActive { handler.callerLeft() }
            case .failure(let error):
                handler.proxyRelay = nil
                guard handler.machine.isAnswering, !relay.headWritten else { return }
                handler.respond(context: context, head: head, response: ProxyErrors.response(error, shape: endpoint.errorShape))
            }
        }
    }

    /// The caller closed its connection mid-answer: its request is cancelled upstream (unless it asked
    /// to detach).
    func callerLeft() {
        guard let generation = self.proxiedGeneration else { return }
        self.proxiedGeneration = nil
        let control = self.dependencies.control
        Task { await control.callerLeft(generation: generation) }
    }

    /// Writes the head of a proxied answer.
    func writeProxyHead(status: Int, headers: [(String, String)], cors: [(String, String)], request: HTTPRequestHead, context: ChannelHandlerContext) {
        guard self.machine.isAnswering else { return }
        var fields = HTTPHeaders(headers)
        fields.add(contentsOf: cors)
        fields.add(name: "cache-control", value: "no-cache")
        let head = HTTPResponseHead(version: request.version, status: HTTPResponseStatus(statusCode: status), headers: fields)
        context.writeAndFlush(self.wrapOutboundOut(.head(head)), promise: nil)
    }

    /// Writes a piece of a proxied answer's body; the future completes once it is written.
    func writeProxyBody(_ bytes: ByteBuffer, context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        guard self.machine.isAnswering, context.channel.isActive else {
            return context.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        return context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(bytes))))
    }

    /// Ends a proxied answer; the connection then serves the next request (or closes).
    func endProxy(status: Int, request: HTTPRequestHead, context: ChannelHandlerContext) {
        self.proxiedGeneration = nil
        self.proxyRelay = nil
        guard self.machine.isAnswering else { return }
        self.finishRequest(status: HTTPResponseStatus(statusCode: status))
        let done = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
        switch self.machine.answered(keepAlive: request.isKeepAlive) {
        case .close: done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        default: self.armRequestTimer(context: context)
        }
    }
}

/// The ``ProxyRelay`` of one proxied request: it writes the provider's answer on the request's own
/// response, from the generation's task, hopping to the connection's event loop for each piece (one hop
/// per piece of the provider's body, not per event).
final class HTTPProxyRelay: ProxyRelay, @unchecked Sendable {
    // @unchecked: `bound` is only touched on its event loop; `state` is behind the loop too.
    private let bound: NIOLoopBound<(HTTPRequestHandler, ChannelHandlerContext)>
    private let eventLoop: any EventLoop
    private let request: HTTPRequestHead
    private let cors: [(String, String)]
    private let status = NIOLockedValueBox(200)
    private let wroteHead = NIOLockedValueBox(false)

    init(handler: HTTPRequestHandler, context: ChannelHandlerContext, request: HTTPRequestHead, cors: [(String, String)]) {
        self.bound = NIOLoopBound((handler, context), eventLoop: context.eventLoop)
        self.eventLoop = context.eventLoop
        self.request = request
        self.cors = cors
    }

    /// Whether the provider's head was written (the hub can no longer answer with its own error).
    var headWritten: Bool { self.wroteHead.withLockedValue { $0 } }

    func head(status: Int, headers: [(String, String)]) async {
        self.status.withLockedValue { $0 = status }
        self.wroteHead.withLockedValue { $0 = true }
        let bound = self.bound
        let (request, cors) = (self.request, self.cors)
        try? await self.eventLoop.submit {
            let (handler, context) = bound.value
            handler.writeProxyHead(status: status, headers: headers, cors: cors, request: request, context: context)
        }.get()
    }

    /// Writes a piece of the answer without waiting for the write (a wait is a second thread switch
    /// per piece, and ~0.1–0.3 ms of added delay on a busy machine): the writes queue in order on the
    /// connection's loop. Waits only while more than ``maxBytesInFlight`` are unwritten (a slow caller
    /// slows the upstream read, as it would without the hub). A failed write (the caller left) is seen
    /// by the next call.
    func body(_ bytes: ByteBuffer) async -> Bool {
        if self.callerGone.load(ordering: .relaxed) { return false }
        let size = bytes.readableBytes
        let unwritten = self.bytesInFlight.add(size, ordering: .relaxed).newValue
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.eventLoop.execute {
            let (handler, context) = self.bound.value
            handler.writeProxyBody(bytes, context: context).whenComplete { result in
                self.bytesInFlight.subtract(size, ordering: .relaxed)
                if case .failure = result { self.callerGone.store(true, ordering: .relaxed) }
                promise.succeed()
            }
        }
        if unwritten > Self.maxBytesInFlight { try? await promise.futureResult.get() }
        return !self.callerGone.load(ordering: .relaxed)
    }

    static let maxBytesInFlight = 256 << 10
    private let bytesInFlight = Atomic<Int>(0)
    private let callerGone = Atomic<Bool>(false)

    func end() async {
        let bound = self.bound
        let (status, request) = (self.status.withLockedValue { $0 }, self.request)
        try? await self.eventLoop.submit {
            let (handler, context) = bound.value
            handler.endProxy(status: status, request: request, context: context)
        }.get()
    }

    func abort() async {
        let bound = self.bound
        try? await self.eventLoop.submit {
            let (_, context) = bound.value
            context.close(promise: nil)
        }.get()
    }
}
