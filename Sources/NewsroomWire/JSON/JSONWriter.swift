import NIOCore
import NewsroomCore

/// Appends JSON to a `ByteBuffer`.
///
/// Hand-written rather than `JSONEncoder` because the event JSON is produced on the publish path, once
/// per event and wire format, and must have a fixed key order (`seq`, `type`, `topic`, `ts`, then the
/// type's fields) that `JSONEncoder` does not promise; this writes straight into the frame's buffer
/// with no intermediate `Data` or `String`.
public struct JSONWriter {
    public var buffer: ByteBuffer
    private var needsComma = false

    public init(buffer: ByteBuffer) {
        self.buffer = buffer
    }

    public mutating func beginObject() {
        self.separator()
        self.buffer.writeInteger(UInt8(ascii: "{"))
        self.needsComma = false
    }

    public mutating func endObject() {
        self.buffer.writeInteger(UInt8(ascii: "}"))
        self.needsComma = true
    }

    /// Starts an array value (after ``arrayField(_:)``, or as an element); close with ``endArray()``.
    public mutating func beginArray() {
        self.separator()
        self.buffer.writeInteger(UInt8(ascii: "["))
        self.needsComma = false
    }

    public mutating func endArray() {
        self.buffer.writeInteger(UInt8(ascii: "]"))
        self.needsComma = true
    }

    /// Starts an array under `key`; close it with ``endArray()``.
    public mutating func arrayField(_ key: StaticString) {
        self.key(key)
        self.beginArray()
    }

    /// Writes a string element of an array.
    public mutating func element(_ value: String) {
        self.separator()
        Self.writeString(value, to: &self.buffer)
        self.needsComma = true
    }

    private mutating func separator() {
        if self.needsComma { self.buffer.writeInteger(UInt8(ascii: ",")) }
    }

    private mutating func key(_ key: StaticString) {
        self.separator()
        self.buffer.writeInteger(UInt8(ascii: "\""))
        self.buffer.writeStaticString(key)
        self.buffer.writeStaticString("\":")
        // The value follows the colon directly; the writer of the value sets `needsComma` after it.
        self.needsComma = false
    }

    public mutating func field(_ key: StaticString, _ value: Int) {
        self.key(key)
        self.buffer.writeString(String(value))
        self.needsComma = true
    }

    public mutating func field(_ key: StaticString, _ value: Int?) {
        guard let value else { return self.null(key) }
        self.field(key, value)
    }

    public mutating func field(_ key: StaticString, _ value: Bool) {
        self.key(key)
        self.buffer.writeStaticString(value ? "true" : "false")
        self.needsComma = true
    }

    public mutating func field(_ key: StaticString, _ value: String) {
        self.key(key)
        Self.writeString(value, to: &self.buffer)
        self.needsComma = true
    }

    public mutating func field(_ key: StaticString, _ value: String?) {
        guard let value else { return self.null(key) }
        self.field(key, value)
    }

    public mutating func null(_ key: StaticString) {
        self.key(key)
        self.buffer.writeStaticString("null")
        self.needsComma = true
    }

    /// `"usage"`: the token counts as `{"input_tokens","output_tokens"}`, or `null` when none were reported.
    public mutating func usage(_ usage: Usage?) {
        guard let usage else { return self.null("usage") }
        self.objectField("usage")
        self.field("input_tokens", usage.inputTokens)
        self.field("output_tokens", usage.outputTokens)
        self.endObject()
    }

    /// Starts a nested object under `key`; close it with ``endObject()``.
    public mutating func objectField(_ key: StaticString) {
        self.key(key)
        self.beginObject()
    }

    /// Writes a field whose value is already-encoded JSON.
    public mutating func rawField(_ key: StaticString, json: ByteBuffer) {
        self.key(key)
        self.buffer.writeImmutableBuffer(json)
        self.needsComma = true
    }

    /// Writes a field with a floating-point value.
    public mutating func field(_ key: StaticString, _ value: Double) {
        self.key(key)
        self.buffer.writeString(value.isFinite ? String(value) : "null")
        self.needsComma = true
    }

    /// Writes `string` as a JSON string literal: quotes, backslashes and control characters escaped
    /// (so a CR or LF in model output can never break an SSE line), everything else as UTF-8.
    public static func writeString(_ string: String, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        var utf8 = string.utf8
        let fast: Void? = utf8.withContiguousStorageIfAvailable { bytes in
            Self.writeEscaped(bytes, to: &buffer)
        }
        if fast == nil {
            var copy = string
            copy.makeContiguousUTF8()
            utf8 = copy.utf8
            utf8.withContiguousStorageIfAvailable { bytes in
                Self.writeEscaped(bytes, to: &buffer)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private static func writeEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to buffer: inout ByteBuffer) {
        var runStart = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            if index > runStart {
                buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            }
            runStart = index + 1
            switch byte {
            case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            default:
                buffer.writeStaticString("\\u00")
                buffer.writeInteger(Self.hex[Int(byte >> 4)])
                buffer.writeInteger(Self.hex[Int(byte & 0xF)])
            }
        }
        if bytes.count > runStart {
            buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        }
    }
}
