import Foundation
import NIOCore
import NewsroomWire
import Testing

@testable import NewsroomFuzzTargets

/// The seed corpus and the kept crashes of each fuzz target (`Corpus/<target>/`, `Corpus/<target>/crashes/`).
enum Corpus {
    static var directory: URL {
        Bundle.module.url(forResource: "Corpus", withExtension: nil)!
    }

    /// The files of a target's seed corpus (or of its `crashes/` folder), sorted by name; dotfiles
    /// (`.gitkeep`) are skipped.
    static func files(_ target: FuzzTarget, crashes: Bool = false) throws -> [URL] {
        var folder = self.directory.appendingPathComponent(target.rawValue, isDirectory: true)
        if crashes { folder.appendPathComponent("crashes", isDirectory: true) }
        guard FileManager.default.fileExists(atPath: folder.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: [.isRegularFileKey])
            .filter { url in
                !url.lastPathComponent.hasPrefix(".")
                    && (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
            }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    static func bytes(_ url: URL) throws -> [UInt8] {
        Array(try Data(contentsOf: url))
    }
}

@Suite("Fuzz corpus replay")
struct CorpusReplayTests {
    @Test("every seed of the corpus passes its target's checks", arguments: FuzzTarget.allCases)
    func seeds(target: FuzzTarget) throws {
        let files = try Corpus.files(target)
        #expect(files.count >= 7, "the \(target) seed corpus is too small: \(files.count) files")
        for file in files {
            target.run(try Corpus.bytes(file))
        }
    }

    @Test("every crash found by fuzzing stays fixed", arguments: FuzzTarget.allCases)
    func crashes(target: FuzzTarget) throws {
        for file in try Corpus.files(target, crashes: true) {
            target.run(try Corpus.bytes(file))
        }
    }

    /// A small deterministic mutation pass over the seeds, so the normal test run exercises the targets
    /// beyond the exact seed bytes (the real search is `scripts/fuzz`).
    @Test("mutated seeds pass their target's checks", arguments: FuzzTarget.allCases)
    func mutatedSeeds(target: FuzzTarget) throws {
        let seeds = try Corpus.files(target).map(Corpus.bytes)
        var mutator = Mutator(seed: 0x4E45_5753 ^ UInt64(target.rawValue.utf8.count))
        for _ in 0..<300 {
            target.run(mutator.mutate(seeds))
        }
    }
}

@Suite("Fuzz harness")
struct FuzzHarnessTests {
    @Test("the reference SSE reading follows the spec's examples")
    func referenceSSE() {
        let stream = Array("\u{FEFF}: comment\r\ndata: a\rdata:b\n\nid: 7\nevent: x\ndata\n\nretry: 50\ndata: c\n\ndata: lost\n".utf8)
        let outcome = stream.withUnsafeBytes { ReferenceSSE.parse($0) }
        #expect(outcome.events.map(\.data) == ["a\nb", "", "c"])
        #expect(outcome.events.map(\.type) == ["message", "x", "message"])
        #expect(outcome.events.map(\.lastEventID) == [nil, "7", "7"])
        #expect(outcome.events.map(\.hasID) == [false, true, false])
        #expect(outcome.retry == 50)
        #expect(outcome.comments == 1)
    }

    @Test("the reference NDJSON splitter keeps a last line without LF and drops blank ones")
    func referenceNDJSON() {
        let lines = Array("a\r\n \t\n\nb\rc\nd".utf8).withUnsafeBytes { ReferenceNDJSON.lines($0) }
        #expect(lines == [Array("a".utf8), Array("b\rc".utf8), Array("d".utf8)])
    }

    @Test("derived chunkings cover the input exactly and depend only on it")
    func chunking() {
        let input = Array((0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        input.withUnsafeBytes { data in
            let chunks = Chunking.derived(data)
            #expect(chunks.flatMap { Array($0.readableBytesView) } == input)
            #expect(chunks.count > 10)
            #expect(Chunking.derived(data).map(\.readableBytes) == chunks.map(\.readableBytes))
            #expect(Chunking.derived(data, salt: 1).map(\.readableBytes) != chunks.map(\.readableBytes))
            #expect(Chunking.bytewise(data)?.count == input.count)
        }
    }

    @Test("inputs are cut at the maximum length")
    func cap() {
        let input = [UInt8](repeating: 0x61, count: fuzzMaxInputLength + 10)
        input.withUnsafeBytes { #expect(capped($0).count == fuzzMaxInputLength) }
    }
}

/// Byte-level mutations of seeds (flips, inserted syntax, deletions, duplications, splices), from a
/// fixed seed so every run checks the same inputs.
struct Mutator {
    private var state: UInt64

    init(seed: UInt64) { self.state = seed }

    private mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private mutating func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(self.next() % UInt64(bound)) }

    private static let tokens: [[UInt8]] = [
        "\r", "\n", "\r\n", ":", " ", "\"", "\\", "\\u", "\\ud83d", "{", "}", "[", "]", ",", "0", "-", "1e999",
        "null", "data:", "event:", "id:", "retry:", "\u{FEFF}", "\u{00E9}", "\u{1F600}", "\"type\":", "\"op\":",
        "\"topic\":", "\"index\":", "text_delta", "stream_complete", "subscribe", "publish",
    ].map { Array($0.utf8) } + [[0x00], [0xFF], [0xC3], [0xE2, 0x82], [0xED, 0xA0, 0x80]]

    mutating func mutate(_ seeds: [[UInt8]]) -> [UInt8] {
        guard !seeds.isEmpty else { return [] }
        var bytes = seeds[self.below(seeds.count)]
        for _ in 0...self.below(4) {
            switch self.below(6) {
            case 0 where !bytes.isEmpty:
                bytes[self.below(bytes.count)] ^= UInt8(truncatingIfNeeded: 1 << self.below(8))
            case 1:
                bytes.insert(contentsOf: Self.tokens[self.below(Self.tokens.count)], at: self.below(bytes.count + 1))
            case 2 where !bytes.isEmpty:
                let start = self.below(bytes.count)
                bytes.removeSubrange(start..<min(bytes.count, start + 1 + self.below(16)))
            case 3 where !bytes.isEmpty:
                let start = self.below(bytes.count)
                let piece = bytes[start..<min(bytes.count, start + 1 + self.below(64))]
                bytes.insert(contentsOf: piece, at: self.below(bytes.count + 1))
            case 4:
                let other = seeds[self.below(seeds.count)]
                let cut = self.below(bytes.count + 1)
                bytes = Array(bytes[..<cut]) + other[self.below(other.count + 1)...]
            default:
                if !bytes.isEmpty { bytes[self.below(bytes.count)] = UInt8(truncatingIfNeeded: self.next()) }
            }
        }
        return bytes
    }
}
