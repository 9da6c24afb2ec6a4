import NIOCore
import NewsroomCore
import NewsroomWire

/// The error codes `WebSocketCommand.decode` may answer with (documented in the WebSocket protocol).
let webSocketFailureCodes: Set<String> = [
    "invalid_json", "invalid_command", "invalid_topic", "invalid_resume", "invalid_policy", "invalid_event",
    "unknown_op",
]

/// The command as a client would send it (`op`, `id` and the operation's fields).
func commandJSON(_ command: WebSocketCommand) -> JSONValue {
    var object: [String: JSONValue]
    switch command.operation {
    case .subscribe(let topic, let after, let policy, let maxDelay):
        object = ["op": .string("subscribe"), "topic": .string(topic)]
        if let after { object["after"] = .int(after) }
        if let policy { object["policy"] = .string(policy.name) }
        if let maxDelay { object["max_delay"] = .string(maxDelay) }
    case .unsubscribe(let topic):
        object = ["op": .string("unsubscribe"), "topic": .string(topic)]
    case .publish(let topic, let event):
        let eventJSON: JSONValue
        do {
            eventJSON = try JSONValue.parse(publishable(event))
        } catch {
            fatalError("fuzz invariant violated: EventJSON.writePublishable wrote invalid JSON: \(error.message)")
        }
        object = ["op": .string("publish"), "topic": .string(topic), "event": eventJSON]
    case .generate(let body):
        guard case .object(let fields) = body else {
            fatalError("fuzz invariant violated: a generate command's body is not an object: \(body.typeName)")
        }
        object = fields
        object["op"] = .string("generate")
    case .cancel(let generation, let topic):
        object = ["op": .string("cancel")]
        if let generation { object["generation"] = .string(generation) }
        if let topic { object["topic"] = .string(topic) }
    }
    if let id = command.id { object["id"] = id }
    return .object(object)
}

/// Parses a reply the hub would send and returns its object.
private func parseReply(_ reply: ByteBuffer, _ data: UnsafeRawBufferPointer) -> [String: JSONValue] {
    do {
        guard case .object(let object) = try JSONValue.parse(reply.readableBytesView) else {
            fatalError("fuzz invariant violated: a WebSocket reply is not a JSON object")
        }
        return object
    } catch {
        fatalError(
            "fuzz invariant violated: a WebSocket reply is not valid JSON (\(error.message)): "
                + "\(describe(reply.readableBytesView)); input \(describe(data))")
    }
}

/// Fuzzes ``WebSocketCommand/decode(_:)``: it never crashes; failures carry a known code and a short
/// message, and the error reply built from them is valid JSON echoing the `id`; a decoded command has
/// valid fields (topic names, non-negative `after`, exactly one cancel target, a publishable event that
/// survives re-encoding), its `ok` reply echoes the `id`, and the command written back as JSON decodes
/// to an equal command.
public func fuzzWebSocketCommand(_ data: UnsafeRawBufferPointer) {
    let data = capped(data)
    let command: WebSocketCommand
    do {
        command = try WebSocketCommand.decode(data)
    } catch {
        check(
            webSocketFailureCodes.contains(error.code),
            "WebSocketCommand.decode failed with an undocumented code '\(error.code)'; input \(describe(data))")
        checkMessage(error.message, "WebSocketCommand.decode", data)
        let reply = parseReply(WebSocketReply.error(id: error.id, code: error.code, message: error.message), data)
        check(
            reply["op"] == .string("error") && reply["id"] == (error.id ?? .null)
                && reply["code"]?.stringValue?.utf8.elementsEqual(error.code.utf8) == true
                && reply["message"]?.stringValue?.utf8.elementsEqual(error.message.utf8) == true,
            "the error reply does not echo id/code/message; input \(describe(data))")
        return
    }

    let reply = parseReply(WebSocketReply.ok(id: command.id), data)
    check(
        reply["op"] == .string("ok") && reply["id"] == (command.id ?? .null),
        "the ok reply does not echo the id; input \(describe(data))")

    switch command.operation {
    case .subscribe(let topic, let after, _, _):
        check(TopicName.isValid(topic), "subscribe accepted an invalid topic; input \(describe(data))")
        check((after ?? 0) >= 0, "subscribe accepted a negative 'after'; input \(describe(data))")
    case .unsubscribe(let topic):
        check(TopicName.isValid(topic), "unsubscribe accepted an invalid topic; input \(describe(data))")
    case .publish(let topic, let event):
        check(TopicName.isValid(topic), "publish accepted an invalid topic; input \(describe(data))")
        checkPublishableRoundTrip(event, "WebSocketCommand publish", data)
    case .generate(let body):
        check(
            body["op"] == nil && body["id"] == nil,
            "generate kept 'op' or 'id' in the request body; input \(describe(data))")
    case .cancel(let generation, let topic):
        check(
            (generation == nil) != (topic == nil),
            "cancel accepted \(generation == nil ? "neither" : "both") of generation and topic; input \(describe(data))")
        if let topic { check(TopicName.isValid(topic), "cancel accepted an invalid topic; input \(describe(data))") }
    }

    let rewritten = encoded(commandJSON(command))
    do {
        let again = try WebSocketCommand.decode(rewritten)
        check(
            again == command,
            "the command written back decodes differently: \(describe(rewritten)); input \(describe(data))")
    } catch {
        fatalError(
            "fuzz invariant violated: the command written back is rejected (\(error.code): \(error.message)): "
                + "\(describe(rewritten)); input \(describe(data))")
    }
}
