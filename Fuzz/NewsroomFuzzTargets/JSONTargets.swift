import NIOCore
import NewsroomCore
import NewsroomWire

// MARK: - JSONValue

/// The bytes of `value` as ``JSONValue/write(_:to:)`` writes them.
func encoded(_ value: JSONValue) -> [UInt8] {
    var buffer = ByteBuffer()
    JSONValue.write(value, to: &buffer)
    return Array(buffer.readableBytesView)
}

/// How deeply `value` nests (a scalar is 1).
func depth(_ value: JSONValue) -> Int {
    switch value {
    case .array(let array): 1 + (array.map(depth).max() ?? 0)
    case .object(let object): 1 + (object.values.map(depth).max() ?? 0)
    default: 1
    }
}

/// Fuzzes ``JSONValue/parse(_:)``: it must never crash; it must reject input that is not UTF-8; a value
/// it accepts nests at most ``JSONValue/maxDepth`` deep, is also accepted with whitespace around it,
/// and round-trips through ``JSONValue/write(_:to:)`` (parse → write → parse gives an equal value with
/// an equal hash, and writing that again gives the same bytes). The event and command decoders are run
/// on every parsed value too.
public func fuzzJSONValue(_ data: UnsafeRawBufferPointer) {
    let data = capped(data)
    let isUTF8 = String(validating: data, as: UTF8.self) != nil
    let value: JSONValue
    do {
        value = try JSONValue.parse(data)
    } catch {
        checkMessage(error.message, "JSONValue.parse", data)
        return
    }
    check(isUTF8, "JSONValue.parse accepted invalid UTF-8: \(describe(data))")
    check(
        depth(value) <= JSONValue.maxDepth,
        "JSONValue.parse accepted \(depth(value)) levels of nesting (max \(JSONValue.maxDepth)): \(describe(data))")

    let written = encoded(value)
    let reparsed: JSONValue
    do {
        reparsed = try JSONValue.parse(written)
    } catch {
        fatalError(
            "fuzz invariant violated: JSONValue.write produced JSON that does not parse (\(error.message)): "
                + "\(describe(written)); input \(describe(data))")
    }
    check(reparsed == value, "JSON round trip changed the value: \(describe(written)); input \(describe(data))")
    check(reparsed.hashValue == value.hashValue, "equal JSON values hash differently: \(describe(written))")
    let rewritten = encoded(reparsed)
    check(
        rewritten == written,
        "JSONValue.write is not stable: \(describe(written)) then \(describe(rewritten)); input \(describe(data))")

    // Whitespace around a JSON text is insignificant.
    let padded = [0x20, 0x0A, 0x09] + Array(data) + [0x0D, 0x0A, 0x20]
    check(
        (try? JSONValue.parse(padded)) == value,
        "JSONValue.parse changed its mind when whitespace was added around \(describe(data))")

    // The strict decoders take parsed values; they must not trap on any of them.
    _ = try? EventDecoder.decode(value)
}

// MARK: - EventDecoder

/// The bytes of `payload` as a publisher would send it.
func publishable(_ payload: EventPayload) -> [UInt8] {
    var buffer = ByteBuffer()
    EventJSON.writePublishable(payload, to: &buffer)
    return Array(buffer.readableBytesView)
}

/// Checks that an accepted payload is one a publisher may send and survives re-encoding: the hub's
/// own encoding of it (`EventJSON.writePublishable`) decodes to an equal payload with the same bytes,
/// and as a broadcast event (`EventJSON.write`) it decodes for clients (`decodeBroadcast`) unchanged.
func checkPublishableRoundTrip(_ payload: EventPayload, _ context: String, _ data: UnsafeRawBufferPointer) {
    check(
        EventType.publishable.contains(payload.type),
        "\(context) accepted a '\(payload.type)' event, which publishers may not send; input \(describe(data))")
    let bytes = publishable(payload)
    let again: EventPayload
    do {
        again = try EventDecoder.decode(bytes)
    } catch {
        fatalError(
            "fuzz invariant violated: \(context) accepted an event whose re-encoding is rejected (\(error.message)): "
                + "\(describe(bytes)); input \(describe(data))")
    }
    check(
        again == payload && publishable(again) == bytes,
        "\(context): the re-encoded event decodes differently: \(describe(bytes)) → \(describe(publishable(again))); "
            + "input \(describe(data))")

    var generator = SplitMix64(hashing: data)
    let event = Event(
        seq: Int(generator.next() % 1_000_000) + 1, topic: "fuzz:topic",
        timestamp: Timestamp(millisecondsSince1970: 1_764_077_908_123), payload: payload)
    let wire = EventJSON.encode(event)
    let received: Event
    do {
        received = try EventDecoder.decodeBroadcast(wire.readableBytesView)
    } catch {
        fatalError(
            "fuzz invariant violated: a broadcast of an accepted event does not decode (\(error.message)): "
                + "\(describe(wire.readableBytesView)); input \(describe(data))")
    }
    check(
        received == event,
        "\(context): the broadcast event decodes differently: \(describe(wire.readableBytesView)); input \(describe(data))")
}

/// Fuzzes ``EventDecoder``: `decode` never crashes, rejects with a short message, and what it accepts
/// passes ``checkPublishableRoundTrip(_:_:_:)``; `decodeBody` (single object) agrees with `decode`;
/// `decodeBroadcast` (what clients run on the hub's events) never crashes, and an event it accepts is
/// decoded the same after `EventJSON.write`.
public func fuzzEventDecoder(_ data: UnsafeRawBufferPointer) {
    let data = capped(data)

    let single: Result<EventPayload, EventDecoder.Failure> = Result { () throws(EventDecoder.Failure) in
        try EventDecoder.decode(data)
    }
    switch single {
    case .success(let payload):
        checkPublishableRoundTrip(payload, "EventDecoder.decode", data)
    case .failure(let failure):
        checkMessage(failure.message, "EventDecoder.decode", data)
    }
    let body = Result { () throws(EventDecoder.Failure) in
        try EventDecoder.decodeBody(ByteBuffer(bytes: data), ndjson: false)
    }
    switch (single, body) {
    case (.success(let a), .success(let b)):
        check([a] == b, "decodeBody(ndjson: false) and decode disagree on \(describe(data))")
    case (.failure(let a), .failure(let b)):
        check(a == b, "decodeBody(ndjson: false) and decode fail differently on \(describe(data))")
    default:
        check(false, "decodeBody(ndjson: false) and decode disagree on \(describe(data))")
    }

    do {
        let event = try EventDecoder.decodeBroadcast(data)
        let wire = EventJSON.encode(event)
        let again: Event
        do {
            again = try EventDecoder.decodeBroadcast(wire.readableBytesView)
        } catch {
            fatalError(
                "fuzz invariant violated: decodeBroadcast accepted an event whose re-encoding it rejects "
                    + "(\(error.message)): \(describe(wire.readableBytesView)); input \(describe(data))")
        }
        check(
            again == event,
            "decodeBroadcast: the re-encoded event decodes differently: \(describe(wire.readableBytesView)); "
                + "input \(describe(data))")
    } catch {
        checkMessage(error.message, "EventDecoder.decodeBroadcast", data)
    }
}
