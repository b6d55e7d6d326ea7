#if TEMPLATE_FUZZING
/// Fuzzing builds: SwiftPM links executables with `main` aliased to `TemplateFuzzer_main`, so
/// libFuzzer's own `main` cannot be used; instead this entry point hands control to libFuzzer's
/// driver (`LLVMFuzzerRunDriver`, part of the runtime that `-sanitize=fuzzer` links).
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("TemplateFuzzer_main")
public func fuzzerMain(
    _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    var count = argc
    var arguments = argv
    return withUnsafeMutablePointer(to: &count) { countPointer in
        withUnsafeMutablePointer(to: &arguments) { argumentsPointer in
            runFuzzerDriver(countPointer, argumentsPointer) { data, size in
                fuzzTestOneInput(data, size)
            }
        }
    }
}
#endif
