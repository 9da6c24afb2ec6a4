import NIOCore
import NewsroomCore
import NewsroomWire

extension JSONValue {
    /// Writes the value as compact JSON; object keys are sorted so the bytes are deterministic.
    func write(to buffer: inout ByteBuffer) {
        switch self {
        case .null:
            buffer.writeStaticString("null")
        case .bool(let value):
            if value { buffer.writeStaticString("true") } else { buffer.writeStaticString("false") }
        case .int(let value):
            buffer.writeString(String(value))
        case .double(let value):
            buffer.writeString(value.isFinite ? String(value) : "null")
        case .string(let value):
            JSONWriter.writeString(value, to: &buffer)
        case .array(let values):
            buffer.writeInteger(UInt8(ascii: "["))
            for (offset, value) in values.enumerated() {
                if offset > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                value.write(to: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        case .object(let object):
            buffer.writeInteger(UInt8(ascii: "{"))
            for (offset, key) in object.keys.sorted().enumerated() {
                if offset > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                JSONWriter.writeString(key, to: &buffer)
                buffer.writeInteger(UInt8(ascii: ":"))
                object[key]!.write(to: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    /// The value as compact JSON text (sorted keys).
    var jsonString: String {
        var buffer = ByteBuffer()
        self.write(to: &buffer)
        return String(buffer: buffer)
    }
}
