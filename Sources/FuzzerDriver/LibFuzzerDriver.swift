#if FUZZING
/// Fuzzing builds (scripts/fuzz-*.sh define FUZZING): SwiftPM links executables with `main`
/// aliased to `<Target>_main`, so libFuzzer's own `main` cannot be used; each fuzzer's entry point
/// hands control to libFuzzer's driver (`LLVMFuzzerRunDriver`, part of the runtime that
/// `-sanitize=fuzzer` links) through this function.
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// Runs libFuzzer with the command line `argc`/`argv` and `testOneInput` as the target.
public func runLibFuzzer(
    argc: Int32, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
    testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32 {
    var count = argc
    var arguments = argv
    return withUnsafeMutablePointer(to: &count) { countPointer in
        withUnsafeMutablePointer(to: &arguments) { argumentsPointer in
            runFuzzerDriver(countPointer, argumentsPointer, testOneInput)
        }
    }
}
#endif
