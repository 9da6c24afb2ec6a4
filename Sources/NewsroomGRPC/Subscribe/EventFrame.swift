import GRPCCore
import NewsroomProto
import NIOCore

/// One event already serialized as a `newsroom.v1.Event` message (``GRPCFrameEncoder``): the message
/// type of the server side of `Subscribe`.
///
/// The service registers `Subscribe` with ``EventFrameSerializer`` instead of the generated protobuf
/// serializer, so the shared bytes made once per event go to every subscriber as they are. Clients see
/// an ordinary stream of `Newsroom_V1_Event`: the bytes on the wire are the same.
public struct EventFrame: Sendable, Hashable {
    /// The serialized message.
    public var bytes: ByteBuffer

    public init(_ bytes: ByteBuffer) {
        self.bytes = bytes
    }
}

/// Hands the pre-serialized bytes of an ``EventFrame`` to the transport.
///
/// - Note: grpc-swift's `MessageSerializer` returns a transport-chosen byte container and the NIO
///   transport's (`GRPCNIOTransportBytes`) cannot wrap an existing `ByteBuffer` through its public API,
///   so this is one `memcpy` of the message per subscriber — no protobuf encoding, no allocation per
///   field. The transport then copies the message once more into its length-prefixed frame.
public struct EventFrameSerializer: MessageSerializer {
    public init() {}

    @inlinable
    public func serialize<Bytes: GRPCContiguousBytes>(_ message: EventFrame) throws -> Bytes {
        Bytes(message.bytes.readableBytesView)
    }
}
