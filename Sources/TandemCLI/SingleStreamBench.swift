import ArgumentParser
import Engine
import Foundation
import Kernels
import Model

/// `tandem bench single`: prefill and single-stream decode speed, like llama-bench's pp/tg.
struct SingleStreamBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "single",
        abstract: "Prefill tok/s for one long prompt and decode tok/s for one stream (like llama-bench pp512/tg128)."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Prompt length for the prefill measurement.")
    var promptLength = 512

    @Option(help: "Tokens generated for the decode measurement.")
    var generateLength = 128

    @Option(help: "Measured repetitions (after one warm-up); the mean is reported.")
    var repetitions = 3

    @Flag(help: "Skip the memory bandwidth measurement (decode as a fraction of the read limit).")
    var noBandwidth = false

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        guard promptLength > 0, generateLength > 0, repetitions > 0 else {
            throw CLIError("lengths and repetitions must be positive")
        }
        let file = try modelOptions.openFile()
        let model = try modelOptions.loadModel(file)
        let vocabulary = model.configuration.vocabularySize
        // Deterministic pseudo-random prompt, like llama-bench's random tokens.
        var state: UInt64 = 42
        let prompt = (0..<promptLength).map { _ -> Int32 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int32((state >> 33) % UInt64(min(vocabulary, 32000)))
        }
        let generator = Generator(model: model, endOfGeneration: [])

        var prefill: [Double] = []
        var decode: [Double] = []
        for run in 0...repetitions {
            let prefillResult = try generator.generate(
                prompt: prompt, options: .init(maxTokens: 1, ignoreEOS: true))
            let decodeResult = try generator.generate(
                prompt: Array(prompt.prefix(8)), options: .init(maxTokens: generateLength + 1, ignoreEOS: true))
            if run > 0 {  // run 0 warms up
                prefill.append(prefillResult.promptTokensPerSecond)
                decode.append(decodeResult.decodeTokensPerSecond)
            }
        }
        let prefillMean = prefill.reduce(0, +) / Double(prefill.count)
        let decodeMean = decode.reduce(0, +) / Double(decode.count)
        let decodeBest = decode.max() ?? 0
        // The limit of a single stream: every weight read once per token at the machine's read bandwidth,
        // measured in the same run (after the model's runs, on the same threads).
        let bytes = model.weightBytesPerToken
        let bandwidth = noBandwidth ? nil : MemoryBandwidth.measure(pool: model.pool).gigabytesPerSecond
        let limit = bandwidth.map { $0 * 1e9 / Double(bytes) }
        if json {
            var fields = [
                String(
                    format: #""threads": %d, "prompt_tokens": %d, "prefill_tokens_per_s": %.2f"#, model.pool.threadCount, promptLength, prefillMean),
                String(
                    format: #""decode_tokens": %d, "decode_tokens_per_s": %.2f, "decode_best_tokens_per_s": %.2f"#, generateLength, decodeMean,
                    decodeBest),
                String(format: #""weight_bytes_per_token": %ld, "matrix_flops_per_token": %ld"#, bytes, model.matrixFlopsPerToken)
            ]
            if let bandwidth, let limit {
                fields.append(
                    String(
                        format: #""read_gb_per_s": %.2f, "decode_limit_tokens_per_s": %.2f, "decode_fraction_of_limit": %.3f"#, bandwidth, limit,
                        decodeMean / limit))
            }
            print("{" + fields.joined(separator: ", ") + "}")
        } else {
            print("threads  test     tok/s")
            print(String(format: "%7d  pp%-5d %8.2f", model.pool.threadCount, promptLength, prefillMean))
            print(String(format: "%7d  tg%-5d %8.2f", model.pool.threadCount, generateLength, decodeMean))
            if let bandwidth, let limit {
                print(
                    String(
                        format: "decode reads %.3f GB per token; memory read %.1f GB/s: limit %.2f tok/s, decode at %.0f%%",
                        Double(bytes) / 1e9, bandwidth, limit, 100 * decodeMean / limit))
            }
        }
    }
}
