import NewsroomFuzzTargets

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    0
}
