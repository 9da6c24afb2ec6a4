import NIOCore
import Synchronization

/// Open connections in total and per client address; refuses past either limit. It also keeps the open
/// connections, so that a shutdown can close those still open after its grace period.
final class ConnectionLimiter: Sendable {
    private struct State {
        var total = 0
        var perAddress: [String: Int] = [:]
        var open: [ObjectIdentifier: any Channel] = [:]
    }
    private let state = Mutex(State())
    let maxTotal: Int
    let maxPerAddress: Int

    init(maxTotal: Int, maxPerAddress: Int) {
        self.maxTotal = maxTotal
        self.maxPerAddress = maxPerAddress
    }

    /// Takes a slot for `address`; `nil` on success, or which limit was hit.
    func acquire(_ address: String, channel: any Channel) -> String? {
        self.state.withLock { state in
            if self.maxTotal > 0, state.total >= self.maxTotal { return "connections" }
            let current = state.perAddress[address, default: 0]
            if self.maxPerAddress > 0, current >= self.maxPerAddress { return "connections_per_ip" }
            state.total += 1
            state.perAddress[address] = current + 1
            state.open[ObjectIdentifier(channel)] = channel
            return nil
        }
    }

    func release(_ address: String, channel: any Channel) {
        self.state.withLock { state in
            state.open[ObjectIdentifier(channel)] = nil
            state.total -= 1
            let current = state.perAddress[address, default: 1] - 1
            state.perAddress[address] = current > 0 ? current : nil
        }
    }

    /// Closes every open connection (the end of a shutdown's grace period).
    func closeAll() {
        let open = self.state.withLock { Array($0.open.values) }
        for channel in open { channel.close(promise: nil) }
    }
}
