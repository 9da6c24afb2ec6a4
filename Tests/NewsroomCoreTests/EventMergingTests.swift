import NewsroomCore
import Testing

@Suite struct EventMergingTests {
    func event(_ seq: Int, _ payload: EventPayload) -> Event {
        Event(seq: seq, topic: "t", timestamp: Timestamp(millisecondsSince1970: Int64(seq)), payload: payload)
    }

    @Test func textDeltasOfTheSameIndexMerge() {
        var a = self.event(1, .textDelta(TextDelta(text: "Hel")))
        let merged1 = a.merge(self.event(2, .textDelta(TextDelta(text: "lo"))), maxTextBytes: 100)
        #expect(merged1)
        #expect(a.seq == 2)
        #expect(a.timestamp.millisecondsSince1970 == 2)
        #expect(a.payload == .textDelta(TextDelta(text: "Hello")))
    }

    @Test func differentIndexesKindsOrCallsDoNotMerge() {
        var a = self.event(1, .textDelta(TextDelta(text: "a", index: 0)))
        let merged2 = a.merge(self.event(2, .textDelta(TextDelta(text: "b", index: 1))), maxTextBytes: 100)
        #expect(!merged2)
        let merged3 = a.merge(self.event(2, .reasoningDelta(ReasoningDelta(text: "b"))), maxTextBytes: 100)
        #expect(!merged3)
        var call = self.event(1, .toolCallDelta(ToolCallDelta(index: 0, callID: "a", name: "f", argumentsDelta: "{")))
        let merged4 = call.merge(self.event(2, .toolCallDelta(ToolCallDelta(index: 0, callID: "b", argumentsDelta: "}"))), maxTextBytes: 100)
        #expect(!merged4)
        let merged5 = call.merge(self.event(2, .toolCallDelta(ToolCallDelta(index: 0, callID: "a", argumentsDelta: "}"))), maxTextBytes: 100)
        #expect(merged5)
        #expect(call.payload == .toolCallDelta(ToolCallDelta(index: 0, callID: "a", name: "f", argumentsDelta: "{}")))
    }

    @Test func mergedTextIsBounded() {
        var a = self.event(1, .textDelta(TextDelta(text: "12345")))
        let merged6 = a.merge(self.event(2, .textDelta(TextDelta(text: "678"))), maxTextBytes: 7)
        #expect(!merged6)
    }

    @Test func compactKeepsOrderAndText() {
        let events = [
            self.event(1, .streamStart(StreamStart())),
            self.event(2, .reasoningDelta(ReasoningDelta(text: "think "))),
            self.event(3, .reasoningDelta(ReasoningDelta(text: "more"))),
            self.event(4, .textDelta(TextDelta(text: "a"))),
            self.event(5, .textDelta(TextDelta(text: "b"))),
            self.event(6, .streamComplete(StreamComplete(finishReason: .stop))),
        ]
        let compacted = Event.compact(events, maxTextBytes: 1 << 16)
        #expect(compacted.map(\.seq) == [1, 3, 5, 6])
        #expect(compacted[1].payload == .reasoningDelta(ReasoningDelta(text: "think more")))
        #expect(compacted[2].payload == .textDelta(TextDelta(text: "ab")))
    }
}
