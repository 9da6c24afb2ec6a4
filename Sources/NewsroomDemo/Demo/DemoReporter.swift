import Logging
import NIOCore
import NewsroomAuth
import NewsroomControl
import NewsroomCore

/// The built-in simulated reporter of `newsroom demo`: streams realistic Markdown answers into topics
/// `demo-1`, `demo-2`, … at a human-like, bursty token rate, one after another, forever.
///
/// It publishes through the control service, as any in-process publisher would (so with a broker the
/// answers reach every node), and needs no API key and no external service.
public struct DemoReporter: Sendable {
    /// Pacing of the simulated model.
    public struct Configuration: Sendable {
        /// Average tokens per second. Default 30.
        public var tokensPerSecond: Double = 30
        /// Pause between the end of one answer and the start of the next. Default 3 s.
        public var pauseBetweenAnswers: Duration = .seconds(3)
        /// The topic name prefix. Default `demo`.
        public var topicPrefix: String = "demo"
        /// Stop after this many answers (`nil`: never).
        public var maxAnswers: Int? = nil
        public init() {}
    }

    let control: ControlService
    let configuration: Configuration
    let logger: Logger

    /// - Parameter control: Where the answers are published (as the hub itself: every capability).
    public init(control: ControlService, configuration: Configuration = .init(), logger: Logger) {
        self.control = control
        self.configuration = configuration
        self.logger = logger
    }

    private func publish(_ payload: EventPayload, to topic: String) async throws(ControlError) {
        _ = try await self.control.publish([payload], to: topic, as: .anonymous, from: "demo")
    }

    /// Streams answers until cancelled; `onAnswer` is told each new topic's name before it starts.
    public func run(onAnswer: @Sendable (String) -> Void) async {
        var generator = SystemRandomNumberGenerator()
        var number = 0
        while !Task.isCancelled {
            number += 1
            if let max = self.configuration.maxAnswers, number > max { return }
            var topic = "\(self.configuration.topicPrefix)-\(number)"
            // A previous run of the demo may have left a topic of that name: skip to a free one.
            while self.control.hub.snapshot(ofTopic: topic) != nil {
                number += 1
                topic = "\(self.configuration.topicPrefix)-\(number)"
            }
            onAnswer(topic)
            let script = DemoScript.answers[(number - 1) % DemoScript.answers.count]
            do {
                try await self.stream(script, to: topic, generation: "demo-gen-\(number)", using: &generator)
            } catch is CancellationError {
                _ = try? await self.control.cancelTopic(topic, as: .anonymous)
                return
            } catch {
                self.logger.info("demo answer stopped", metadata: ["newsroom.topic": "\(topic)", "error": "\(error)"])
            }
            try? await Task.sleep(for: self.configuration.pauseBetweenAnswers)
        }
    }

    private func stream(
        _ script: DemoScript.Answer, to topic: String, generation: String,
        using generator: inout SystemRandomNumberGenerator
    ) async throws {
        try await self.publish(
            .streamStart(StreamStart(generation: generation, provider: "demo", model: "newsroom-demo-1")), to: topic)
        var outputTokens = 0
        for token in DemoScript.tokens(of: script.reasoning) {
            try await self.pause(using: &generator)
            try await self.publish(.reasoningDelta(ReasoningDelta(text: token)), to: topic)
            outputTokens += 1
        }
        for token in DemoScript.tokens(of: script.text) {
            try await self.pause(using: &generator)
            try await self.publish(.textDelta(TextDelta(text: token)), to: topic)
            outputTokens += 1
        }
        if let tool = script.toolCall {
            let callID = "call_\(generation)"
            var first = true
            for fragment in DemoScript.tokens(of: tool.arguments) {
                try await self.pause(using: &generator)
                try await self.publish(
                    .toolCallDelta(
                        ToolCallDelta(index: 0, callID: callID, name: first ? tool.name : nil, argumentsDelta: fragment)),
                    to: topic)
                first = false
                outputTokens += 1
            }
            try await self.publish(
                .toolCall(ToolCall(index: 0, callID: callID, name: tool.name, arguments: tool.arguments)), to: topic)
        }
        try await self.publish(
            .streamComplete(
                StreamComplete(
                    finishReason: script.toolCall == nil ? .stop : .toolCalls,
                    providerFinishReason: script.toolCall == nil ? "stop" : "tool_calls",
                    usage: Usage(inputTokens: 42, outputTokens: outputTokens))),
            to: topic)
    }

    /// A bursty delay: usually a short gap, sometimes a burst (no gap), sometimes a longer think.
    private func pause(using generator: inout SystemRandomNumberGenerator) async throws {
        let mean = 1.0 / self.configuration.tokensPerSecond
        let roll = Double.random(in: 0..<1, using: &generator)
        let seconds: Double
        switch roll {
        case ..<0.25: seconds = 0.002  // part of a burst
        case ..<0.95: seconds = mean * Double.random(in: 0.8..<1.5, using: &generator)
        default: seconds = mean * Double.random(in: 3..<6, using: &generator)  // a "thinking" pause
        }
        try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
    }
}
