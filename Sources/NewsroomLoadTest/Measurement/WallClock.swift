#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The clock the publisher stamps into each event and the receivers compare against.
///
/// Wall-clock time (`CLOCK_REALTIME`) in nanoseconds, so that the publisher and the receivers may live in
/// different processes of the same machine (`--workers`). End-to-end latency is only meaningful when both
/// sides run on one host, which is why the load tester targets loopback by default.
public enum WallClock {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    @inline(__always)
    public static func nanoseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) &* 1_000_000_000 &+ Int64(spec.tv_nsec)
    }

    /// Monotonic nanoseconds (`CLOCK_MONOTONIC`), for durations inside one process.
    @inline(__always)
    public static func monotonicNanoseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) &* 1_000_000_000 &+ Int64(spec.tv_nsec)
    }
}
