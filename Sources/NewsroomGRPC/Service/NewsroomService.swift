import GRPCCore
import GRPCProtobuf
import Logging
import NewsroomAuth
import NewsroomControl
import NIOCore
import NewsroomCore
import NewsroomProto
import NewsroomWire
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
    /// Every call goes through it: access, limits, broker-or-hub.
    let control: ControlService
    let format: WireFormat
    let eventLoopGroup: any EventLoopGroup
    let subscriberBufferBytes: Int
    /// The loops of the open connections, when the service runs in a ``NewsroomGRPCServer``.
    let connectionLoops: ConnectionLoops?
    let logger: Logger
    private let shuttingDown = Atomic<Bool>(false)

    /// Creates the service.
    /// - Parameters:
    ///   - control: The control service; its hub's encoder list must hold a ``GRPCFrameEncoder`` (name
    ///     ``GRPCFrameEncoder/name``).
    ///   - eventLoopGroup: The loops subscriptions live on (one per call, round robin).
    ///   - subscriberBufferBytes: The bytes a subscription buffers between its loop and its call before
    ///     it counts as slow and the hub's queue and policy take over. Default 64 KiB.
    ///   - logger: Where the service logs (levels up to `info`; never event content).
    public convenience init(
        control: ControlService, eventLoopGroup: any EventLoopGroup, subscriberBufferBytes: Int = 64 << 10,
        logger: Logger
    ) {
        self.init(
            control: control, eventLoopGroup: eventLoopGroup, subscriberBufferBytes: subscriberBufferBytes,
            connectionLoops: nil, logger: logger)
    }

    init(
        control: ControlService, eventLoopGroup: any EventLoopGroup, subscriberBufferBytes: Int,
        connectionLoops: ConnectionLoops?, logger: Logger
    ) {
        guard let format = control.hub.format(named: GRPCFrameEncoder.name) else {
            preconditionFailure("the hub has no '\(GRPCFrameEncoder.name)' wire format; add GRPCFrameEncoder()")
        }
        self.control = control
        self.format = format
        self.eventLoopGroup = eventLoopGroup
        self.subscriberBufferBytes = max(1, subscriberBufferBytes)
        self.connectionLoops = connectionLoops
        self.logger = logger
    }

    /// Whether ``beginShutdown()`` was called: cancelled subscriptions then end with `UNAVAILABLE`.
    var isShuttingDown: Bool { self.shuttingDown.load(ordering: .relaxed) }

    /// Marks the service as shutting down, before the server stops: subscriptions that gRPC cancels
    /// from now on end with `UNAVAILABLE` (resume elsewhere or later) rather than `CANCELLED`.
    public func beginShutdown() {
        self.shuttingDown.store(true, ordering: .relaxed)
    }

    /// Who is calling: the `authorization: Bearer <token>` metadata, verified by the control service.
    /// - Throws: `UNAUTHENTICATED` when auth is on and the token is missing, malformed, invalid or expired.
    func caller(_ metadata: Metadata) async throws(RPCError) -> Principal {
        let header = metadata[stringValues: "authorization"].first(where: { _ in true })
        switch await self.control.authenticate(token: Credentials.bearerToken(authorization: header)) {
        case .success(let principal): return principal
        case .failure(let error): throw RPCError(error)
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
