import ArgumentParser
import Foundation
import Kernels

/// `tandem bench kernels`: the matrix products of the default model's shapes, in GFLOP/s and GB/s.
struct KernelsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Micro-benchmark the quantized matrix products at the default model's shapes."
    )

    @Option(help: "Compute threads (default: the CPUs this process may use).")
    var threads: Int?

    @Option(help: "Token counts (rows of activations) to measure, comma separated.")
    var tokens = "1,8,32,64,512"

    @Option(help: "Seconds to repeat each measurement at least.")
    var seconds = 0.3

    @Flag(help: "Also measure the other formats: Q8_0, Q4_0, Q5_0 at 1536 x 576; Q4_K, Q5_K, Q6_K at 576 x 1536.")
    var formats = false

    @Option(
        help: ArgumentHelp(
            "Measure these shapes instead of the default model's, comma separated: TYPE:ROWSxCOLUMNS (e.g. q4_0:65536x2048,q6_K:128256x2048).",
            discussion: "Matrices larger than the last-level cache stream from memory, as a 1B-8B model's do."))
    var shapes: String?

    @Flag(help: "Also measure decode attention: 64 sequences x 192 cached positions over 30 layers (f16 cache).")
    var attention = false

    func run() throws {
        let counts = tokens.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ (1...65536).contains($0) }) else {
            throw CLIError("--tokens must list counts from 1 to 65536")
        }
        let threadCount = threads ?? WorkerPool.processorCount
        guard (1...1024).contains(threadCount) else { throw CLIError("--threads must be between 1 and 1024") }
        let measured =
            try shapes.map { text in
                guard let parsed = KernelBenchmark.shapes(parsing: text) else {
                    throw CLIError("--shapes must list TYPE:ROWSxCOLUMNS of quantized types with whole blocks, under 16 GiB each")
                }
                return parsed
            }
            ?? KernelBenchmark.defaultShapes + (formats ? KernelBenchmark.formatShapes : [])
        let pool = WorkerPool(threads: threadCount)
        _ = KernelBenchmark.run(pool: pool, shapes: measured, tokenCounts: counts, minimumSeconds: seconds)
        if attention {
            let result = KernelBenchmark.attention(pool: pool, minimumSeconds: seconds)
            print(
                String(
                    format: "decode attention, %d sequences x %d positions: %.3f ms/layer, %.2f GB/s of cache",
                    result.sequences, result.context, result.secondsPerLayer * 1e3, result.gigabytesPerSecond))
        }
    }
}
