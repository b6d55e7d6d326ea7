#if !TEMPLATE_FUZZING
import Foundation

/// Outside fuzzing builds (where libFuzzer supplies `main`), this executable is a reproducer:
/// it runs the fuzz target over each file named on the command line and prints the outcome.
/// `--template FILE` treats FILE as plain template source (first context, default limits).
/// The fuzzing build (scripts/fuzz-template.sh) defines TEMPLATE_FUZZING, which removes this type.
@main
enum Reproducer {
    static func main() {
        var paths = Array(CommandLine.arguments.dropFirst())
        var plainTemplate = false
        if paths.first == "--template" {
            plainTemplate = true
            paths.removeFirst()
        }
        if paths.isEmpty {
            print("usage: TemplateFuzzer FILE...             re-runs the template fuzz target on each file")
            print("       TemplateFuzzer --template FILE...  renders each file as template source")
            print("(fuzzing itself: scripts/fuzz-template.sh)")
        }
        let clock = ContinuousClock()
        for path in paths where !path.isEmpty {
            guard var data = FileManager.default.contents(atPath: path).map(Array.init) else {
                print("\(path): cannot read")
                continue
            }
            if plainTemplate { data.insert(0, at: 0) }
            let start = clock.now
            let outcome = exercise(data)
            let elapsed = clock.now - start
            switch outcome {
            case .rendered(let bytes): print("\(path): rendered \(bytes) bytes in \(elapsed)")
            case .failed(let error): print("\(path): \(error) (after \(elapsed))")
            }
        }
    }
}
#endif
