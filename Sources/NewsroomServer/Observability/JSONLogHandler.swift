import Logging
import NIOCore
import NewsroomCore
import NewsroomWire
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A swift-log handler that writes one JSON object per line to standard error:
/// `{"ts":"…","level":"info","msg":"…","label":"…", …metadata}`.
///
/// Written here because swift-log ships only the text `StreamLogHandler`; the line is assembled with the
/// same ``JSONWriter`` the event encoder uses and written with a single `write(2)`, so lines from
/// several threads never interleave.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let fileDescriptor: Int32

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil, fileDescriptor: Int32 = 2) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.fileDescriptor = fileDescriptor
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = self.metadata
        if let provided = self.metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(256)
        buffer.writeStaticString("{\"ts\":\"")
        buffer.writeString(Timestamp.now().description)
        buffer.writeStaticString("\",\"level\":\"")
        buffer.writeString(event.level.rawValue)
        buffer.writeStaticString("\",\"msg\":")
        JSONWriter.writeString(event.message.description, to: &buffer)
        buffer.writeStaticString(",\"label\":")
        JSONWriter.writeString(self.label, to: &buffer)
        for key in merged.keys.sorted() where !["ts", "level", "msg", "label"].contains(key) {
            buffer.writeStaticString(",")
            JSONWriter.writeString(key, to: &buffer)
            buffer.writeStaticString(":")
            Self.write(merged[key]!, to: &buffer)
        }
        buffer.writeStaticString("}\n")
        buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = systemWrite(self.fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }

    private static func write(_ value: Logger.Metadata.Value, to buffer: inout ByteBuffer) {
        switch value {
        case .string(let string):
            JSONWriter.writeString(string, to: &buffer)
        case .stringConvertible(let convertible):
            JSONWriter.writeString(convertible.description, to: &buffer)
        case .array(let array):
            buffer.writeStaticString("[")
            for (index, element) in array.enumerated() {
                if index > 0 { buffer.writeStaticString(",") }
                Self.write(element, to: &buffer)
            }
            buffer.writeStaticString("]")
        case .dictionary(let dictionary):
            buffer.writeStaticString("{")
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { buffer.writeStaticString(",") }
                JSONWriter.writeString(key, to: &buffer)
                buffer.writeStaticString(":")
                Self.write(dictionary[key]!, to: &buffer)
            }
            buffer.writeStaticString("}")
        }
    }
}

private func systemWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Darwin)
    return Darwin.write(fd, pointer, count)
    #elseif canImport(Musl)
    return Musl.write(fd, pointer, count)
    #else
    return Glibc.write(fd, pointer, count)
    #endif
}
