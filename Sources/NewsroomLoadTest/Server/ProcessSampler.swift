#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU time and memory of a process, read from Linux's `/proc/PID/stat` and `/proc/PID/status`
/// (proc(5)): `utime` + `stime` (fields 14 and 15, in clock ticks) and `VmRSS` / `VmHWM` (kB).
///
/// Reads are small synchronous file reads, done from the runner's task a handful of times per run, never
/// on an event loop.
public struct ProcessSampler: Sendable {
    /// One reading.
    public struct Sample: Sendable, Hashable {
        /// User plus system CPU time, in seconds.
        public var cpuSeconds: Double { self.userSeconds + self.systemSeconds }
        /// CPU time in the process's own code (`utime`), in seconds.
        public var userSeconds: Double
        /// CPU time in the kernel on the process's behalf (`stime`: system calls such as `write`), in seconds.
        public var systemSeconds: Double
        /// Resident set size, in bytes.
        public var rssBytes: Int
        /// Peak resident set size so far, in bytes.
        public var peakRSSBytes: Int
    }

    public let pid: Int

    public init(pid: Int) {
        self.pid = pid
    }

    /// Reads the process's counters, or nil if it is gone (or this is not Linux).
    public func sample() -> Sample? {
        guard let stat = Self.read("/proc/\(self.pid)/stat"), let status = Self.read("/proc/\(self.pid)/status") else {
            return nil
        }
        guard let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after "comm)": state is field 3, so utime (14) and stime (15) are at offsets 11 and 12.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return Sample(
            userSeconds: utime / max(ticks, 1), systemSeconds: stime / max(ticks, 1),
            rssBytes: Self.kilobytes("VmRSS:", in: status) * 1024,
            peakRSSBytes: Self.kilobytes("VmHWM:", in: status) * 1024)
    }

    /// The CPU seconds (user + system) of this process and its waited-for children.
    public static func ownCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        var children = rusage()
        getrusage(__rusage_who_t(RUSAGE_CHILDREN.rawValue), &children)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime) + seconds(children.ru_utime)
            + seconds(children.ru_stime)
    }

    private static func kilobytes(_ key: String, in status: String) -> Int {
        for line in status.split(separator: "\n") where line.hasPrefix(key) {
            let digits = line.dropFirst(key.count).filter { $0.isNumber }
            return Int(digits) ?? 0
        }
        return 0
    }

    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Raises this process's soft open-file limit to its hard limit; returns the new soft limit.
@discardableResult
public func raiseOpenFileLimit() -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    return Int(limit.rlim_cur)
}

#if canImport(Glibc)
private let systemRead = Glibc.read
#elseif canImport(Musl)
private let systemRead = Musl.read
#elseif canImport(Darwin)
private let systemRead = Darwin.read
#endif
