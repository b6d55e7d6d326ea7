#if !REQUEST_FUZZING
import Foundation

/// Outside fuzzing builds (where libFuzzer supplies `main`), this executable is a reproducer: it
/// runs the fuzz target over each file named on the command line (scripts/fuzz-requests.sh fuzzes).
@main
enum Reproducer {
    static func main() {
        let paths = CommandLine.arguments.dropFirst()
        if paths.isEmpty { print("usage: RequestFuzzer FILE...   re-runs the request fuzz target on each file") }
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("\(path): cannot read")
                continue
            }
            exercise(Array(data))
            print("\(path): ok")
        }
    }
}
#endif
