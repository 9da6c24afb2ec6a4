import NIOCore
import NewsroomCore

extension JSONValue {
    /// Writes the value as compact JSON. Object keys are sorted, so the same value always gives the same
    /// bytes (request bodies, replies and test fixtures compare byte for byte). Non-finite numbers, which
    /// JSON cannot hold, are written as `null`.
    public func write(to buffer: inout ByteBuffer) {
        switch self {
        case .null: buffer.writeStaticString("null")
        case .bool(let bool): buffer.writeStaticString(bool ? "true" : "false")
        case .int(let int): buffer.writeString(String(int))
        case .double(let double): buffer.writeString(double.isFinite ? String(double) : "null")
        case .string(let string): JSONWriter.writeString(string, to: &buffer)
        case .array(let array):
            buffer.writeStaticString("[")
            for (index, element) in array.enumerated() {
                if index > 0 { buffer.writeStaticString(",") }
                element.write(to: &buffer)
            }
            buffer.writeStaticString("]")
        case .object(let object):
            buffer.writeStaticString("{")
            for (index, key) in object.keys.sorted().enumerated() {
                if index > 0 { buffer.writeStaticString(",") }
                JSONWriter.writeString(key, to: &buffer)
                buffer.writeStaticString(":")
                object[key]!.write(to: &buffer)
            }
            buffer.writeStaticString("}")
        }
    }

    /// Writes `value` as compact JSON (see ``write(to:)``).
    public static func write(_ value: JSONValue, to buffer: inout ByteBuffer) {
        value.write(to: &buffer)
    }

    /// The value as compact JSON bytes.
    public var jsonBytes: ByteBuffer {
        var buffer = ByteBuffer()
        self.write(to: &buffer)
        return buffer
    }

    /// The value as compact JSON text.
    public var jsonString: String { String(buffer: self.jsonBytes) }
}
