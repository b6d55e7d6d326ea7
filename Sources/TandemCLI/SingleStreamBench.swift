import ArgumentParser
import Engine
import Foundation
import Kernels
import Model

/// `tandem bench single`: prefill and single-stream decode speed, like llama-bench's pp/tg.
struct SingleStreamBench: AsyncParsableCommand {
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

    func run() async throws {
        guard promptLength > 0, generateLength > 0, repetitions > 0 else {
            throw CLIError("lengths and repetitions must be positive")
        }
        let file = try modelOptions.openFile()
        let model = try modelOptions.loadModel(file)
        let tokenizer = try modelOptions.loadTokenizer(file)
        let vocabulary = model.configuration.vocabularySize
        // Deterministic pseudo-random prompts, like llama-bench's random tokens: one per run, so
        // that no run finds an earlier one's blocks in the prefix cache.
        func prompt(run: Int) -> [Int32] {
            var state = UInt64(42 + run)
            return (0..<promptLength).map { _ -> Int32 in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Int32((state >> 33) % UInt64(min(vocabulary, 32000)))
            }
        }
        // Through the engine, as every generation: a KV cache for the longer of the two requests.
        var cache = CPUDevice.CacheConfiguration()
        cache.tokens = max(promptLength + 1, 8 + generateLength + 1)
        cache.precision = .float32  // single requests keep the f32 cache (docs/benchmarks.md)
        let engine = Engine(model: model, tokenizer: tokenizer, cache: cache)
        defer { engine.shutdown() }
        func generate(_ prompt: [Int32], maxTokens: Int) async throws -> SingleRequestTimings {
            let request = GenerationRequest(id: "bench", promptTokens: prompt, maxTokens: maxTokens, ignoreEOS: true)
            let stream: AsyncStream<GenerationEvent>
            do { stream = try engine.submit(request) } catch { throw CLIError("\(error)") }
            return SingleRequestTimings(await Engine.result(of: stream, id: request.id).usage)
        }

        var prefill: [Double] = []
        var decode: [Double] = []
        for run in 0...repetitions {
            let prefillRun = try await generate(prompt(run: run), maxTokens: 1)
            let decodeRun = try await generate(Array(prompt(run: run).prefix(8)), maxTokens: generateLength + 1)
            if run > 0 {  // run 0 warms up
                prefill.append(prefillRun.prefillTokensPerSecond)
                decode.append(decodeRun.decodeTokensPerSecond)
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
