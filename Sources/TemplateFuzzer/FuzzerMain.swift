#if TEMPLATE_FUZZING
import FuzzerDriver

/// The fuzzing build's entry point (see FuzzerDriver): libFuzzer runs `fuzzTestOneInput`.
@_cdecl("TemplateFuzzer_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runLibFuzzer(argc: argc, argv: argv) { fuzzTestOneInput($0, $1) }
}
#endif
