import NewsroomClient
import NewsroomCore

/// Prints a topic's answer as it streams, resuming by itself after a dropped connection.
///
///     swift run SwiftSubscriber TOPIC [http://HOST:PORT] [sse|ws]
///
/// Without a topic, it asks the hub to run a demo generation (provider `demo-openai`, which
/// `newsroom demo` provides) and follows that.
@main
struct SwiftSubscriber {
    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let hub = HubClient(baseURL: arguments.count > 1 ? arguments[1] : "http://127.0.0.1:8080")
        let transport: Subscription.Transport = arguments.count > 2 && arguments[2] == "ws" ? .webSocket : .sse

        let topic: String
        if let given = arguments.first {
            topic = given
        } else {
            let started = try await hub.startGeneration(
                provider: "demo-openai",
                request: .object([
                    "model": .string("demo"),
                    "messages": .array([.object(["role": .string("user"), "content": .string("Hello")])]),
                ]))
            topic = started.topic
            print("[generation \(started.id) on topic \(topic)]")
        }

        // The subscription reconnects with backoff and jitter and resumes after the last seq.
        for try await event in try hub.subscribe(to: topic, transport: transport) {
            switch event.payload {
            case .textDelta(let delta):
                print(delta.text, terminator: "")
            case .toolCall(let call):
                print("\n[tool call \(call.name)(\(call.arguments))]")
            case .error(let error):
                print("\n[\(error.code): \(error.message)]")
            case .streamComplete(let complete):
                print("\n[\(complete.finishReason)]")
            default:
                break  // stream_start, reasoning, tool-call deltas, heartbeats
            }
        }
    }
}
