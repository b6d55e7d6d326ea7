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
