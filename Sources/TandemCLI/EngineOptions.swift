import ArgumentParser
import Engine
import Kernels
import Model

/// Engine settings shared by `serve`, `chat` and `bench throughput`.
struct EngineOptions: ParsableArguments {
    @Option(help: "Token budget of one step (decodes plus prefill chunks).")
    var maxBatchTokens = 512

    @Option(help: "Sequences in one step at most.")
    var maxSeqs = 64

    @Option(help: "Tokens per KV-cache block.")
    var blockSize = 16

    @Option(help: "KV cache capacity in tokens (default: from --kv-cache-mib).")
    var kvCacheTokens: Int?

    @Option(help: "KV cache memory budget in MiB when --kv-cache-tokens is not given.")
    var kvCacheMib = 1024

    @Option(
        help:
            "Gemma 2/3: KV cache tokens of the local (sliding-window) layers' own pool (default: --max-seqs sequences' windows, at most their share of an unsplit cache; 0: no split)."
    )
    var kvLocalCacheTokens: Int?

    @Option(help: "KV cache element type: f32, f16 or q8_0 (56% of f16's memory; head sizes that are multiples of 32).")
    var kvType = "f16"

    @Flag(help: "Run the engine synchronously (the host waits for each step before preparing the next).")
    var sync = false

    @OptionGroup var speculationOptions: SpeculationOptions

    func validate() throws {
        guard maxBatchTokens >= 1, maxSeqs >= 1 else { throw ValidationError("--max-batch-tokens and --max-seqs must be >= 1") }
        guard (1...1024).contains(blockSize) else { throw ValidationError("--block-size must be in 1...1024") }
        guard kvCacheMib >= 1, (kvCacheTokens ?? 1) >= 1, (kvLocalCacheTokens ?? 0) >= 0 else {
            throw ValidationError("the KV cache size must be positive")
        }
        guard ["f32", "f16", "q8_0"].contains(kvType) else { throw ValidationError("--kv-type must be f32, f16 or q8_0") }
    }

    /// The engine's settings for `model`, loaded from `path` (speculative decoding's costs are measured on it).
    func configuration(
        for model: LlamaModel, path: String, asynchronous: Bool? = nil, recordSteps: Bool = false
    ) throws -> Engine.Configuration {
        var c = Engine.Configuration()
        c.maxBatchTokens = maxBatchTokens
        c.maxSequences = maxSeqs
        c.asynchronous = asynchronous ?? !sync
        c.recordSteps = recordSteps
        c.speculation = try speculationOptions.speculation(for: model, path: path)
        return c
    }

    /// The CPU device's KV cache for `model`; throws when the element type cannot hold its heads.
    func cache(for model: LlamaModel) throws -> CPUDevice.CacheConfiguration {
        var c = CPUDevice.CacheConfiguration()
        c.blockSize = blockSize
        c.tokens = kvCacheTokens
        c.memoryMiB = kvCacheMib
        c.sizeLocalPool(for: model, maxSequences: maxSeqs, maxBatchTokens: maxBatchTokens)
        if let kvLocalCacheTokens {
            c.localTokens = kvLocalCacheTokens
            c.splitsLocalLayers = kvLocalCacheTokens > 0
        }
        c.precision = ["f32": .float32, "q8_0": .q8_0][kvType] ?? .float16
        let headSize = model.configuration.headDimension
        guard headSize % c.precision.blockElements == 0 else {
            throw CLIError("--kv-type \(kvType) needs a head size that is a multiple of \(c.precision.blockElements); this model's is \(headSize)")
        }
        return c
    }
}
