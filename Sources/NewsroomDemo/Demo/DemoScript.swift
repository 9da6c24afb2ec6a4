/// The canned answers of the demo reporter.
enum DemoScript {
    struct Tool {
        var name: String
        var arguments: String
    }

    struct Answer {
        var reasoning: String
        var text: String
        var toolCall: Tool?
    }

    /// Splits text into model-like tokens: a leading space stays with its word, long words are split.
    static func tokens(of text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        for character in text {
            if (character == " " || character == "\n") && !current.isEmpty && current != " " {
                tokens.append(current)
                current = ""
            }
            current.append(character)
            if current.count >= 6 && character != " " {
                tokens.append(current)
                current = ""
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    static let answers: [Answer] = [
        Answer(
            reasoning: "The user wants to fan out one stream to many clients. Compare SSE and WebSocket, then show code.",
            text: """
                # Broadcasting one answer to many viewers

                A **broadcast hub** receives one upstream stream and sends it to *every* viewer at once. \
                Each viewer that joins late first gets the `history`, then the live tail.

                ## Why it matters

                - One upstream request, however many viewers.
                - Late joiners see the whole answer so far.
                - A slow viewer never slows the others.

                > Encode each event once, share the bytes, and flush once per batch.

                ## Try it

                ```swift
                let hub = Hub(encoders: [SSEEncoder()], eventLoopGroup: group)
                try hub.publish(.textDelta(TextDelta(text: "Hello")), to: "demo")
                ```

                Open a second terminal and watch the same topic: both see **the same text**, in order.
                """,
            toolCall: Tool(name: "get_weather", arguments: #"{"city":"Lisbon","unit":"celsius"}"#)),
        Answer(
            reasoning: "Explain resumption with Last-Event-ID in three steps.",
            text: """
                ## Resuming after a dropped connection

                Every stored event has a `seq`. The SSE `id:` line carries it, so a browser's `EventSource` \
                reconnects with `Last-Event-ID` and the hub sends only what was missed.

                1. The client receives `id: 41`.
                2. The train enters a tunnel; the socket drops.
                3. The client reconnects with `Last-Event-ID: 41` and receives `42` onwards.

                ```bash
                curl -N -H 'Last-Event-ID: 41' http://127.0.0.1:8080/v1/topics/demo-2/events
                ```

                Nothing is lost and nothing arrives twice. See [the SSE spec](https://html.spec.whatwg.org/multipage/server-sent-events.html).
                """,
            toolCall: nil),
        Answer(
            reasoning: "List the slow-consumer policies with one line each.",
            text: """
                ### Slow consumers

                A viewer on a bad network gets a bounded queue and one of three policies:

                - `coalesce` merges consecutive deltas, so the text stays complete.
                - `drop_oldest` drops old deltas and sends a `gap` event.
                - `disconnect` closes the stream; the viewer resumes from its last id.

                ```json
                {"type":"gap","from":120,"to":180}
                ```

                *Everyone else* keeps receiving at full speed.
                """,
            toolCall: Tool(name: "lookup_docs", arguments: #"{"query":"slow consumer policy","limit":3}"#)),
    ]
}
