// The libFuzzer entry point, built by `scripts/fuzz` with `-sanitize=fuzzer`. The target is chosen with
// NEWSROOM_FUZZ_TARGET (sse, ndjson, event, json, wscommand); see docs/fuzzing.md.
//
// SwiftPM links an executable's entry point as `<module>_main` (and points `main` at it), so libFuzzer's
// own `main` is not the one that runs: `NewsroomFuzz_main` below hands control to libFuzzer through
// `LLVMFuzzerRunDriver`, looked up at run time. Built without the fuzzer runtime (a plain `swift build`),
// the lookup fails and the binary only replays the files named on its command line.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NewsroomFuzzTargets

/// The target named by NEWSROOM_FUZZ_TARGET, read once.
private let selectedTarget: FuzzTarget = {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    guard let raw = getenv("NEWSROOM_FUZZ_TARGET") else {
        printError("NewsroomFuzz: set NEWSROOM_FUZZ_TARGET to one of: \(names)")
        exit(2)
    }
    guard let target = FuzzTarget(rawValue: String(cString: raw)) else {
        printError("NewsroomFuzz: unknown NEWSROOM_FUZZ_TARGET '\(String(cString: raw))'; expected one of: \(names)")
        exit(2)
    }
    return target
}()

private func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// libFuzzer's per-input callback.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    selectedTarget.run(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

private typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
private typealias RunDriver = @convention(c) (
    UnsafeMutablePointer<CInt>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    TestOneInput
) -> CInt

@_cdecl("NewsroomFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    _ = selectedTarget
    if let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "LLVMFuzzerRunDriver") {
        let runDriver = unsafeBitCast(symbol, to: RunDriver.self)
        var argc = argc
        var argv = argv
        return runDriver(&argc, &argv) { start, count in fuzzEntry(start, count) }
    }
    // No libFuzzer: replay the files given as arguments.
    printError("NewsroomFuzz: built without -sanitize=fuzzer; replaying the files given")
    for index in 1..<Int(argc) {
        guard let path = argv[index], let file = fopen(path, "rb") else { continue }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let read = fread(&chunk, 1, chunk.count, file)
            if read <= 0 { break }
            bytes += chunk[0..<read]
        }
        fclose(file)
        selectedTarget.run(bytes)
        printError("ok: \(String(cString: path))")
    }
    return 0
}
