import Foundation
import Kernels
import Testing

/// Prints the kernel benchmark; runs only when TANDEM_BENCH is set (use `swift test -c release`).
@Test(.enabled(if: ProcessInfo.processInfo.environment["TANDEM_BENCH"] != nil))
func kernelBenchmark() {
    let threads = Int(ProcessInfo.processInfo.environment["TANDEM_BENCH_THREADS"] ?? "") ?? WorkerPool.processorCount
    let tokens = (ProcessInfo.processInfo.environment["TANDEM_BENCH_TOKENS"] ?? "1,8,32,64,512")
        .split(separator: ",").compactMap { Int($0) }
    let results = KernelBenchmark.run(pool: WorkerPool(threads: threads), tokenCounts: tokens, minimumSeconds: 0.2)
    #expect(results.allSatisfy { $0.seconds > 0 })
}

/// `bench kernels --shapes`: well-formed lists parse; anything else is refused, without trapping on
/// sizes that overflow.
@Test func kernelBenchmarkShapesParse() throws {
    let shapes = try #require(KernelBenchmark.shapes(parsing: "q4_0:65536x2048,Q6_K:128256x2048"))
    #expect(shapes.map { "\($0.0) \($0.1) \($0.2)" } == ["Q4_0 65536 2048", "Q6_K 128256 2048"])
    for bad in [
        "", ",", "q4_0", "q4_0:", "q4_0:64", "q4_0:64x", "q4_0:x64", "q4_0:64x64x64", "q4_0:0x64", "q4_0:64x0",
        "q4_0:-8x64", "q4_0:64x48", "q6_K:64x128", "f16:64x64", "iq2_xs:64x256", "q9_9:64x64", "q4_0:64x64,",
        "q4_0:99999999999999999999x32", "q4_0:9223372036854775807x32", "q8_0:4611686018427387904x64",
        "q4_0:1048576x1048576"
    ] {
        #expect(KernelBenchmark.shapes(parsing: bad) == nil, "\(bad)")
    }
}
