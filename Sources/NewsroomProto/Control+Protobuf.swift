import NewsroomCore
import SwiftProtobuf

// The control API's answers as protobuf messages (topics and generations), for every gRPC transport.

extension Newsroom_V1_TopicInfo {
    public init(_ snapshot: Topic.Snapshot) {
        self.init()
        self.name = snapshot.name
        self.state = Newsroom_V1_TopicState(snapshot.state)
        self.lastSeq = UInt64(clamping: snapshot.lastSeq)
        self.firstSeq = UInt64(clamping: snapshot.firstSeq)
        self.subscribers = UInt64(clamping: snapshot.subscribers)
        self.historyEvents = UInt64(clamping: snapshot.historyEvents)
        self.historyBytes = UInt64(clamping: snapshot.historyBytes)
    }
}

extension Newsroom_V1_Generation {
    public init(_ info: GenerationInfo) {
        self.init()
        self.generation = info.id
        self.topic = info.topic
        self.provider = info.provider
        if let model = info.model { self.model = model }
        switch info.state {
        case .running: self.state = .running
        case .completed: self.state = .completed
        case .cancelled: self.state = .cancelled
        case .failed: self.state = .failed
        default: self.state = .unspecified
        }
        if let reason = info.finishReason { self.finishReason = Newsroom_V1_FinishReason(reason) }
        var timings = Newsroom_V1_GenerationTimings()
        timings.queued = Google_Protobuf_Timestamp(info.queuedAt)
        if let first = info.firstTokenAt { timings.firstToken = Google_Protobuf_Timestamp(first) }
        if let completed = info.completedAt { timings.completed = Google_Protobuf_Timestamp(completed) }
        self.timings = timings
        if let usage = info.usage { self.usage = Newsroom_V1_Usage(usage) }
    }
}
