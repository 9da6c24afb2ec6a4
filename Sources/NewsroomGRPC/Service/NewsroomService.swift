import GRPCCore
import GRPCProtobuf
import Logging
import NIOCore
import NewsroomCore
import SwiftProtobuf
import Synchronization

/// The `newsroom.v1.Newsroom` service: subscribe, publish, generations and topics over gRPC.
///
/// Every method goes through the same hub as the HTTP API, so history, resume, slow-consumer policies
/// and heartbeats behave the same on every transport. The methods are registered by hand rather than
/// through the generated `registerMethods`, because `Subscribe` uses ``EventFrameSerializer``: its
/// messages are the bytes the hub serialized once per event with ``GRPCFrameEncoder``.
///
/// Use it through ``NewsroomGRPCServer``, or register it with any `GRPCServer`.
public final class NewsroomService: RegistrableRPCService, Sendable {
    let hub: Hub
    let generations: (any GenerationService)?
    let format: WireFormat
    let eventLoopGroup: any EventLoopGroup
    let subscriberBufferBytes: Int
    let authorizer: (any GRPCAuthorizer)?
    /// The loops of the open connections, when the service runs in a ``NewsroomGRPCServer``.
    let connectionLoops: ConnectionLoops?
    let broker: (any Broker)?
    let metrics: GRPCMetrics?
    let logger: Logger
    private let shuttingDown = Atomic<Bool>(false)

    /// Creates the service.
    /// - Parameters:
    ///   - hub: The hub; its encoder list must hold a ``GRPCFrameEncoder`` (name ``GRPCFrameEncoder/defaultName``).
    ///   - generations: Runs generations; `nil` answers the generation methods with `UNIMPLEMENTED`.
    ///   - eventLoopGroup: The loops subscriptions live on (one per call, round robin).
    ///   - subscriberBufferBytes: The bytes a subscription buffers between its loop and its call before
    ///     it counts as slow and the hub's queue and policy take over. Default 64 KiB.
    ///   - authorizer: Checks each call's credentials and rights; `nil` lets every call through.
    ///   - broker: Shares topics with other hub nodes (publishes go through it, subscriptions mirror the
    ///     shared topic first); `nil` for a single node.
    ///   - logger: Where the service logs (levels up to `info`; never event content).
    public convenience init(
        hub: Hub, generations: (any GenerationService)?, eventLoopGroup: any EventLoopGroup,
        subscriberBufferBytes: Int = 64 << 10, authorizer: (any GRPCAuthorizer)? = nil, broker: (any Broker)? = nil,
        logger: Logger
    ) {
        self.init(
            hub: hub, generations: generations, eventLoopGroup: eventLoopGroup,
            subscriberBufferBytes: subscriberBufferBytes, authorizer: authorizer, broker: broker, connectionLoops: nil,
            metrics: nil, logger: logger)
    }

    init(
        hub: Hub, generations: (any GenerationService)?, eventLoopGroup: any EventLoopGroup,
        subscriberBufferBytes: Int, authorizer: (any GRPCAuthorizer)?, broker: (any Broker)?,
        connectionLoops: ConnectionLoops?, metrics: GRPCMetrics?, logger: Logger
    ) {
        guard let format = hub.format(named: GRPCFrameEncoder.defaultName) else {
            preconditionFailure("the hub has no '\(GRPCFrameEncoder.defaultName)' wire format; add GRPCFrameEncoder()")
        }
        self.hub = hub
        self.generations = generations
        self.format = format
        self.eventLoopGroup = eventLoopGroup
        self.subscriberBufferBytes = max(1, subscriberBufferBytes)
        self.authorizer = authorizer
        self.connectionLoops = connectionLoops
        self.broker = broker
        self.metrics = metrics
        self.logger = logger
    }

    /// Whether ``beginShutdown()`` was called: cancelled subscriptions then end with `UNAVAILABLE`.
    var isShuttingDown: Bool { self.shuttingDown.load(ordering: .relaxed) }

    /// Marks the service as shutting down, before the server stops: subscriptions that gRPC cancels
    /// from now on end with `UNAVAILABLE` (resume elsewhere or later) rather than `CANCELLED`.
    public func beginShutdown() {
        self.shuttingDown.store(true, ordering: .relaxed)
    }

    /// Asks the authorizer, if any, whether the call may do `action` on `topic`.
    func authorize(
        _ action: GRPCAccess.Action, topic: String?, method: String, metadata: Metadata
    ) async throws(RPCError) -> GRPCGrant {
        guard let authorizer = self.authorizer else { return .anonymous }
        do {
            return try await authorizer.authorize(
                GRPCAccess(action: action, topic: topic, method: method), metadata: metadata)
        } catch {
            self.metrics?.authFailed(error.code)
            self.logger.debug(
                "call refused",
                metadata: [
                    "newsroom.rpc": "\(method)", "newsroom.topic": "\(topic ?? "-")", "newsroom.code": "\(error.code)",
                ])
            throw error
        }
    }

    public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(
            forMethod: Newsroom_V1_Newsroom.Method.Subscribe.descriptor,
            deserializer: ProtobufDeserializer<Newsroom_V1_SubscribeRequest>(),
            serializer: EventFrameSerializer(),
            handler: { request, context in
                try await self.subscribe(request: ServerRequest(stream: request), context: context)
            }
        )
        router.registerHandler(
            forMethod: Newsroom_V1_Newsroom.Method.Publish.descriptor,
            deserializer: ProtobufDeserializer<Newsroom_V1_PublishRequest>(),
            serializer: ProtobufSerializer<Newsroom_V1_PublishSummary>(),
            handler: { request, context in
                StreamingServerResponse(single: try await self.publish(request: request, context: context))
            }
        )
        Self.registerUnary(
            Newsroom_V1_Newsroom.Method.StartGeneration.self, with: &router, handler: self.startGeneration)
        Self.registerUnary(
            Newsroom_V1_Newsroom.Method.CancelGeneration.self, with: &router, handler: self.cancelGeneration)
        Self.registerUnary(
            Newsroom_V1_Newsroom.Method.GetGeneration.self, with: &router, handler: self.getGeneration)
        Self.registerUnary(Newsroom_V1_Newsroom.Method.ListTopics.self, with: &router, handler: self.listTopics)
        Self.registerUnary(Newsroom_V1_Newsroom.Method.GetTopic.self, with: &router, handler: self.getTopic)
    }

    /// The generated method namespaces, for ``registerUnary(_:with:handler:)``.
    protocol UnaryMethod {
        associatedtype Input: SwiftProtobufMessage
        associatedtype Output: SwiftProtobufMessage
        static var descriptor: MethodDescriptor { get }
    }

    private static func registerUnary<Method: UnaryMethod, Transport: ServerTransport>(
        _ method: Method.Type, with router: inout RPCRouter<Transport>,
        handler: @escaping @Sendable (ServerRequest<Method.Input>, ServerContext) async throws -> Method.Output
    ) {
        router.registerHandler(
            forMethod: Method.descriptor,
            deserializer: ProtobufDeserializer<Method.Input>(),
            serializer: ProtobufSerializer<Method.Output>(),
            handler: { request, context in
                let single = try await ServerRequest(stream: request)
                return StreamingServerResponse(single: ServerResponse(message: try await handler(single, context)))
            }
        )
    }
}

/// A protobuf message that gRPC can carry (what the generated code's messages are).
typealias SwiftProtobufMessage = SwiftProtobuf.Message & Sendable

extension Newsroom_V1_Newsroom.Method.StartGeneration: NewsroomService.UnaryMethod {}
extension Newsroom_V1_Newsroom.Method.CancelGeneration: NewsroomService.UnaryMethod {}
extension Newsroom_V1_Newsroom.Method.GetGeneration: NewsroomService.UnaryMethod {}
extension Newsroom_V1_Newsroom.Method.ListTopics: NewsroomService.UnaryMethod {}
extension Newsroom_V1_Newsroom.Method.GetTopic: NewsroomService.UnaryMethod {}
