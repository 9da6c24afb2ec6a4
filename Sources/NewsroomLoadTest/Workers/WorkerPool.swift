import Foundation
import Synchronization

/// The viewers spread over child processes of the same executable (`--workers N`).
///
/// Each worker gets a contiguous share of the viewer indices (so topics and slow viewers are assigned
/// exactly as in one process), raises its own open-file limit and runs a ``Fleet``. The parent publishes
/// and samples the server; it talks to the workers with one line per message:
///
/// | parent → worker (stdin) | worker → parent (stdout) |
/// |---|---|
/// | (start: connect) | `progress <json>` every second, then `ready` |
/// | `measure <seconds>` | `measured` |
/// | `drain <published json> <seconds>` | `drained <ms or null>` |
/// | `stop <published json>` | `report <FleetReport json>`, then exits |
///
/// A worker whose stdin closes (the parent died) stops and exits; every wait on a worker is bounded.
final class WorkerPool: ViewerSet {
    /// The last progress a worker sent.
    final class ProgressBox: Sendable {
        let value = Mutex(FleetProgress())
    }

    private final class Worker: Sendable {
        let process: Process
        let stdin: FileHandle
        let mailbox: LineMailbox
        let progress: ProgressBox

        init(process: Process, stdin: FileHandle, mailbox: LineMailbox, progress: ProgressBox) {
            self.process = process
            self.stdin = stdin
            self.mailbox = mailbox
            self.progress = progress
        }

        func send(_ line: String) {
            writeLine(line, to: self.stdin.fileDescriptor)
        }

        func expect(_ prefix: String, timeout: Double) async throws -> String {
            while true {
                guard let line = await self.mailbox.next(timeout: timeout) else {
                    throw LoadTestError.workerFailed(
                        "worker \(self.process.processIdentifier) did not answer '\(prefix)' in \(Int(timeout)) s")
                }
                if line == prefix { return "" }
                if line.hasPrefix(prefix + " ") { return String(line.dropFirst(prefix.count + 1)) }
            }
        }
    }

    private let configuration: LoadTestRunner.Configuration
    private let workers: [Worker]

    private init(configuration: LoadTestRunner.Configuration, workers: [Worker]) {
        self.configuration = configuration
        self.workers = workers
    }

    /// Starts `configuration.workers` processes with `command` (the executable and its arguments before
    /// `--worker-config`).
    static func start(_ configuration: LoadTestRunner.Configuration, command: [String]) async throws -> WorkerPool {
        guard let executable = command.first else {
            throw LoadTestError.invalidConfiguration("--workers needs the path of the newsroom executable")
        }
        let count = configuration.workers
        var workers: [Worker] = []
        for w in 0..<count {
            var share = configuration
            share.workers = 0
            share.clientRange = (configuration.clients * w / count)..<(configuration.clients * (w + 1) / count)
            share.maxPendingConnects = max(1, configuration.maxPendingConnects / count)
            share.ramp = configuration.ramp / Double(count)
            share.threads = configuration.threads ?? 1
            let json = String(decoding: try JSONEncoder().encode(share), as: UTF8.self)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = Array(command.dropFirst()) + ["--worker-config", json]
            let input = Pipe()
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            do {
                try process.run()
            } catch {
                for worker in workers { worker.process.terminate() }
                throw LoadTestError.workerFailed("cannot start worker \(executable): \(error)")
            }
            let progress = ProgressBox()
            let mailbox = LineMailbox(fd: output.fileHandleForReading.fileDescriptor) { line in
                guard line.hasPrefix("progress ") else { return false }
                if let snapshot = try? JSONDecoder().decode(FleetProgress.self, from: Data(line.dropFirst(9).utf8)) {
                    progress.value.withLock { $0 = snapshot }
                }
                return true
            }
            workers.append(
                Worker(process: process, stdin: input.fileHandleForWriting, mailbox: mailbox, progress: progress))
        }
        return WorkerPool(configuration: configuration, workers: workers)
    }

    func connect(deadline: Int64) async throws {
        let timeout = Double(deadline - WallClock.monotonicNanoseconds()) / 1e9 + 15
        for worker in self.workers {
            _ = try await worker.expect("ready", timeout: max(timeout, 15))
        }
    }

    func progress() async -> FleetProgress {
        var total = FleetProgress()
        for worker in self.workers { total.merge(worker.progress.value.withLock { $0 }) }
        return total
    }

    func measure(duration: Double) async throws {
        for worker in self.workers { worker.send("measure \(duration)") }
        for worker in self.workers { _ = try await worker.expect("measured", timeout: duration + 30) }
    }

    func drain(published: [Int], drain: Double) async throws -> Double? {
        let list = Self.list(published)
        for worker in self.workers { worker.send("drain \(list) \(drain)") }
        var slowest: Double? = 0
        for worker in self.workers {
            let answer = try await worker.expect("drained", timeout: drain + 30)
            if let ms = Double(answer), let current = slowest { slowest = max(current, ms) } else { slowest = nil }
        }
        return slowest
    }

    func stop(published: [Int]) async throws -> FleetReport {
        let list = Self.list(published)
        for worker in self.workers { worker.send("stop \(list)") }
        var report = FleetReport()
        for worker in self.workers {
            let json = try await worker.expect("report", timeout: 60)
            do {
                report.merge(try JSONDecoder().decode(FleetReport.self, from: Data(json.utf8)))
            } catch {
                throw LoadTestError.workerFailed("worker \(worker.process.processIdentifier) sent a bad report: \(error)")
            }
        }
        return report
    }

    func shutdown() async {
        for worker in self.workers {
            try? worker.stdin.close()
        }
        // Give them a moment to exit by themselves, then make sure.
        for _ in 0..<50 where self.workers.contains(where: { $0.process.isRunning }) {
            try? await Task.sleep(for: .milliseconds(100))
        }
        for worker in self.workers where worker.process.isRunning { worker.process.terminate() }
    }

    private static func list(_ values: [Int]) -> String {
        "[" + values.map(String.init).joined(separator: ",") + "]"
    }
}

extension LoadTestRunner {
    /// Runs this process as one worker of a ``WorkerPool`` (`newsroom loadtest --worker-config JSON`):
    /// connects its share of the viewers, then follows the parent's commands on stdin.
    public static func runWorker(configurationJSON: String) async throws {
        let configuration: Configuration
        do {
            configuration = try JSONDecoder().decode(Configuration.self, from: Data(configurationJSON.utf8))
        } catch {
            throw LoadTestError.invalidConfiguration("bad --worker-config: \(error)")
        }
        raiseOpenFileLimit()
        let fleet = try Fleet(configuration: configuration, range: configuration.clientRange ?? 0..<configuration.clients)
        let commands = LineMailbox(fd: 0)
        // Bounded even if the parent hangs: a worker never outlives its run's own bound.
        let watchdog = Task.detached {
            try? await Task.sleep(for: .seconds(configuration.effectiveTimeout + 60))
            if !Task.isCancelled { exit(3) }
        }
        let progress = Task {
            while !Task.isCancelled {
                let snapshot = await fleet.progress()
                if let json = try? JSONEncoder().encode(snapshot) {
                    writeLine("progress " + String(decoding: json, as: UTF8.self), to: 1)
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        await fleet.connect(
            deadline: WallClock.monotonicNanoseconds() + Int64(configuration.effectiveConnectTimeout * 1e9))
        writeLine("ready", to: 1)
        var published = Array(repeating: 0, count: configuration.topics)
        var cpuAtMeasure = ProcessSampler.ownCPUSeconds()
        var cpuMeasured = 0.0
        loop: while let line = await commands.next(timeout: configuration.effectiveTimeout + 60) {
            let parts = line.split(separator: " ")
            guard let command = parts.first else { continue }
            switch command {
            case "measure":
                cpuAtMeasure = ProcessSampler.ownCPUSeconds()
                await fleet.measure(duration: parts.count > 1 ? Double(parts[1]) ?? 0 : 0)
                writeLine("measured", to: 1)
            case "drain":
                if parts.count > 1 { published = Self.parseList(parts[1]) ?? published }
                let catchUp = await fleet.drain(published: published, drain: parts.count > 2 ? Double(parts[2]) ?? 0 : 0)
                cpuMeasured = ProcessSampler.ownCPUSeconds() - cpuAtMeasure
                writeLine("drained " + (catchUp.map { String($0) } ?? "null"), to: 1)
            case "stop":
                if parts.count > 1 { published = Self.parseList(parts[1]) ?? published }
                progress.cancel()
                var report = await fleet.stop(published: published)
                report.workerCPUSeconds = cpuMeasured
                let json = try JSONEncoder().encode(report)
                writeLine("report " + String(decoding: json, as: UTF8.self), to: 1)
                break loop
            default:
                continue
            }
        }
        progress.cancel()
        watchdog.cancel()
        await fleet.shutdown()
    }

    private static func parseList(_ text: Substring) -> [Int]? {
        guard text.hasPrefix("["), text.hasSuffix("]") else { return nil }
        let inner = text.dropFirst().dropLast()
        if inner.isEmpty { return [] }
        let values = inner.split(separator: ",").compactMap { Int($0) }
        return values
    }
}
