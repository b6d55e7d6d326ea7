#if !GGUF_FUZZING
import Foundation
import GGUF

/// Outside fuzzing builds (where libFuzzer supplies `main`), this executable is a reproducer:
/// it runs the fuzz target over each file named on the command line and prints the outcome.
/// The fuzzing build (scripts/fuzz-gguf.sh) defines GGUF_FUZZING, which removes this type.
@main
enum Reproducer {
    static func main() {
        var paths = Array(CommandLine.arguments.dropFirst())
        if paths.first == "--time", paths.count >= 2 {
            timeParsing(paths[1])
            return
        }
        if paths.isEmpty {
            print("usage: GGUFFuzzer FILE...      re-runs the GGUF fuzz target on each file")
            print("       GGUFFuzzer --time FILE  measures memory-mapped parsing of FILE")
            print("(fuzzing itself: scripts/fuzz-gguf.sh)")
        }
        paths.removeAll { $0.isEmpty }
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path).map(Array.init) else {
                print("\(path): cannot read")
                continue
            }
            do {
                let file = try GGUFFile(bytes: data)
                print("\(path): ok, version \(file.version), \(file.metadataKeys.count) keys, \(file.tensors.count) tensors")
            } catch {
                print("\(path): \(error)")
            }
            exercise(data)
        }
    }

    /// Parses `path` (memory-mapped) repeatedly and prints the best time.
    static func timeParsing(_ path: String) {
        let clock = ContinuousClock()
        var best = Duration.seconds(1000)
        for _ in 0..<10 {
            let start = clock.now
            do {
                let file = try GGUFFile(path: path)
                _ = file.tensors.count
            } catch {
                print("\(path): \(error)")
                return
            }
            best = min(best, clock.now - start)
        }
        print("\(path): best parse time over 10 runs: \(best)")
    }
}
#endif
