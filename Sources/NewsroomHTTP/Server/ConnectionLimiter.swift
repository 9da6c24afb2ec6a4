import Synchronization

/// Open connections in total and per client address; refuses past either limit.
final class ConnectionLimiter: Sendable {
    private struct State {
        var total = 0
        var perAddress: [String: Int] = [:]
    }
    private let state = Mutex(State())
    let maxTotal: Int
    let maxPerAddress: Int

    init(maxTotal: Int, maxPerAddress: Int) {
        self.maxTotal = maxTotal
        self.maxPerAddress = maxPerAddress
    }

    /// Takes a slot for `address`; `nil` on success, or which limit was hit.
    func acquire(_ address: String) -> String? {
        self.state.withLock { state in
            if self.maxTotal > 0, state.total >= self.maxTotal { return "connections" }
            let current = state.perAddress[address, default: 0]
            if self.maxPerAddress > 0, current >= self.maxPerAddress { return "connections_per_ip" }
            state.total += 1
            state.perAddress[address] = current + 1
            return nil
        }
    }

    func release(_ address: String) {
        self.state.withLock { state in
            state.total -= 1
            let current = state.perAddress[address, default: 1] - 1
            state.perAddress[address] = current > 0 ? current : nil
        }
    }
}
