import NewsroomAuth

/// The one place where a caller's capabilities decide what it may do.
///
/// | operation | needs |
/// |---|---|
/// | ``Operation/subscribe(_:)``, ``Operation/readTopic(_:)`` | `subscribe` matching the topic |
/// | ``Operation/publish(_:)`` | `publish` matching the topic |
/// | ``Operation/cancelTopic(_:)`` | `cancel` matching the topic |
/// | ``Operation/startGeneration(into:)`` | `generate`, and `publish` matching the topic when one is named |
/// | ``Operation/readGeneration(on:)`` | `subscribe` matching the generation's topic |
/// | ``Operation/cancelGeneration(on:)`` | `cancel` matching the generation's topic |
/// | ``Operation/listTopics``, ``Operation/administer`` | `admin` |
/// | ``Operation/readMetrics`` | nothing, or `admin` when metrics are private |
///
/// `admin` allows everything. Topic patterns are exact names or prefixes ending in `*` (see
/// ``Capabilities``). With auth off every caller is ``Principal/anonymous``, which holds every capability.
public struct AccessPolicy: Sendable {
    /// Whether `GET /metrics` needs `admin`.
    public var metricsRequireAdmin: Bool

    public init(metricsRequireAdmin: Bool = false) {
        self.metricsRequireAdmin = metricsRequireAdmin
    }

    /// Whether `principal` may do `operation`.
    public func allows(_ operation: Operation, for principal: Principal) -> Bool {
        let capabilities = principal.capabilities
        if capabilities.admin { return true }
        switch operation.kind {
        case .subscribe, .readTopic, .readGeneration:
            return operation.topic.map { capabilities.allows(.subscribe, topic: $0) } ?? false
        case .publish:
            return operation.topic.map { capabilities.allows(.publish, topic: $0) } ?? false
        case .cancelTopic, .cancelGeneration:
            return operation.topic.map { capabilities.allows(.cancel, topic: $0) } ?? false
        case .startGeneration:
            guard capabilities.generate else { return false }
            return operation.topic.map { capabilities.allows(.publish, topic: $0) } ?? true
        case .readMetrics:
            return !self.metricsRequireAdmin
        case .listTopics, .administer:
            return false
        }
    }

    /// Throws ``ControlError/Kind/permissionDenied`` unless `principal` may do `operation`.
    public func check(_ operation: Operation, for principal: Principal) throws(ControlError) {
        guard self.allows(operation, for: principal) else {
            throw ControlError(.permissionDenied, code: "forbidden", message: Self.denial(operation))
        }
    }

    /// The message of a refusal: what the token does not allow.
    static func denial(_ operation: Operation) -> String {
        switch operation.kind {
        case .subscribe, .readTopic, .readGeneration:
            "the token does not allow subscribe on '\(operation.topic ?? "")'"
        case .publish:
            "the token does not allow publish on '\(operation.topic ?? "")'"
        case .cancelTopic, .cancelGeneration:
            "the token does not allow cancel on '\(operation.topic ?? "")'"
        case .startGeneration:
            operation.topic.map { "the token does not allow starting generations into '\($0)' (generate and publish)" }
                ?? "the token does not allow starting generations"
        case .readMetrics, .listTopics, .administer:
            "the token does not allow the management endpoints (admin)"
        }
    }
}
