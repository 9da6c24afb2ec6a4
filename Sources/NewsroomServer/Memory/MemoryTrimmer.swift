import CNewsroomMemory
import Logging
import Metrics

/// Gives the C allocator's free memory back to the system when it holds a lot of it.
///
/// After thousands of topics or connections come and go, glibc keeps the memory they freed in its
/// arenas, and the process's RSS stays several times above what it uses (the probe of issue 19 saw
/// 2–4× after 10,000 topics). Every ``interval``, if the allocator holds at least ``threshold`` free
/// bytes (`mallinfo2`), `malloc_trim(0)` returns them.
///
/// It runs on its own task, never on an event loop: a trim walks every arena (milliseconds on a large
/// heap), and an event loop that allocates from an arena being trimmed waits for it meanwhile — the
/// only cost to the fan-out, paid only when that much memory is free.
struct MemoryTrimmer: Sendable {
    /// Time between checks (`memory.trimInterval`); zero disables trimming.
    var interval: Duration
    /// Free bytes held by the allocator that make a trim worth it (`memory.trimThreshold`).
    var threshold: Int
    let logger: Logger

    /// Whether this platform's allocator can be trimmed (glibc).
    static var isAvailable: Bool { cnewsroom_malloc_can_trim() != 0 }

    func run() async {
        guard Self.isAvailable, self.interval > .zero else { return }
        let trims = Counter(label: "newsroom_memory_trims_total")
        let returned = Counter(label: "newsroom_memory_returned_bytes_total")
        while !Task.isCancelled {
            do { try await Task.sleep(for: self.interval) } catch { return }
            let free = cnewsroom_malloc_free_bytes()
            guard free >= self.threshold else { continue }
            let before = Self.residentBytes()
            let clock = ContinuousClock()
            let started = clock.now
            _ = cnewsroom_malloc_trim()
            let took = clock.now - started
            let after = Self.residentBytes()
            trims.increment()
            returned.increment(by: max(0, before - after))
            self.logger.info(
                "returned free memory to the system",
                metadata: [
                    "newsroom.allocator_free_bytes": "\(free)", "newsroom.rss_before_bytes": "\(before)",
                    "newsroom.rss_after_bytes": "\(after)",
                    "newsroom.trim_ms": "\(took.components.attoseconds / 1_000_000_000_000_000 + took.components.seconds * 1000)",
                ])
        }
    }

    /// The process's resident memory (0 where it cannot be read).
    static func residentBytes() -> Int { cnewsroom_resident_bytes() }
}
