import Foundation
import Model

/// Generates one sequence at a time, synchronously: prefill the prompt in chunks, then decode token
/// by token. The simplest path from a prompt to text, used by `tandem generate` and as the
/// reference the batching engine is compared with.
public final class Generator {
    /// What to generate and when to stop.
    public struct Options: Sendable {
        public var maxTokens: Int
        public var sampling: SamplingParameters
        /// Keep generating through end-of-generation tokens until `maxTokens`.
        public var ignoreEOS: Bool
        /// Extra token ids that end generation (besides the model's end-of-generation tokens).
        public var stopTokens: Set<Int32>
        /// Prompt tokens per forward pass during prefill.
        public var prefillChunk: Int

        public init(
            maxTokens: Int = 128, sampling: SamplingParameters = .greedy, ignoreEOS: Bool = false,
            stopTokens: Set<Int32> = [], prefillChunk: Int = 512
        ) {
            self.maxTokens = maxTokens
            self.sampling = sampling
            self.ignoreEOS = ignoreEOS
            self.stopTokens = stopTokens
            self.prefillChunk = prefillChunk
        }
    }

    /// The generated tokens and how long each phase took.
    public struct Result: Sendable {
        public var promptTokens: [Int32]
        public var tokens: [Int32]
        public var finishReason: FinishReason
        /// Seconds from the start until the first token was sampled (prefill + first sample).
        public var prefillSeconds: Double
        /// Seconds spent producing the remaining tokens.
        public var decodeSeconds: Double

        public var promptTokensPerSecond: Double { Double(promptTokens.count) / max(prefillSeconds, 1e-9) }
        public var decodeTokensPerSecond: Double { Double(max(tokens.count - 1, 0)) / max(decodeSeconds, 1e-9) }
    }

    public let model: LlamaModel
    public let endOfGeneration: Set<Int32>
    private let blockSize = 16

    public init(model: LlamaModel, endOfGeneration: Set<Int32>) {
        self.model = model
        self.endOfGeneration = endOfGeneration
    }

    /// Generates a continuation of `prompt`. `onToken` sees each token as it is sampled and may
    /// return false to stop early (finish reason `stop`).
    public func generate(
        prompt: [Int32], options: Options,
        onToken: (Int32) -> Bool = { _ in true }
    ) throws -> Result {
        let contextLength = model.configuration.contextLength
        guard !prompt.isEmpty else { throw GenerationError.emptyPrompt }
        guard prompt.count < contextLength else {
            throw GenerationError.promptTooLong(prompt.count, contextLength)
        }
        try options.sampling.validate()
        let maxTokens = min(max(options.maxTokens, 0), contextLength - prompt.count)
        var result = Result(promptTokens: prompt, tokens: [], finishReason: .length, prefillSeconds: 0, decodeSeconds: 0)
        guard maxTokens > 0 else { return result }

        let capacity = prompt.count + maxTokens
        let blockCount = (capacity + blockSize - 1) / blockSize
        let cache = model.makeKVCache(blockSize: blockSize, blockCount: blockCount)
        let blockTable = (0..<Int32(blockCount)).map { $0 }
        var sampler = Sampler(parameters: options.sampling, promptTokens: prompt)
        let start = DispatchTime.now().uptimeNanoseconds

        // Prefill in chunks; only the last chunk's last position is sampled.
        var position = 0
        var next: Int32 = 0
        while position < prompt.count {
            let end = min(position + max(options.prefillChunk, 1), prompt.count)
            var batch = ForwardBatch()
            batch.append(
                tokens: prompt[position..<end], firstPosition: position, blockTable: blockTable,
                blockSize: blockSize, logitCount: end == prompt.count ? 1 : 0)
            if end == prompt.count {
                next = try model.forward(batch, cache: cache) { sampler.sample($0) }
            } else {
                try model.forward(batch, cache: cache) { _ in }
            }
            position = end
        }
        let firstToken = DispatchTime.now().uptimeNanoseconds
        result.prefillSeconds = Double(firstToken - start) / 1e9

        while true {
            if !options.ignoreEOS && endOfGeneration.contains(next) || options.stopTokens.contains(next) {
                result.finishReason = .stop
                break
            }
            result.tokens.append(next)
            sampler.accept(next)
            if !onToken(next) {
                result.finishReason = .stop
                break
            }
            if result.tokens.count == maxTokens { break }
            var batch = ForwardBatch()
            batch.append(
                tokens: [next], firstPosition: position, blockTable: blockTable, blockSize: blockSize,
                logitCount: 1)
            next = try model.forward(batch, cache: cache) { sampler.sample($0) }
            position += 1
        }
        result.decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - firstToken) / 1e9
        return result
    }
}

/// A generation request that cannot be served.
public enum GenerationError: Error, CustomStringConvertible {
    case emptyPrompt
    case promptTooLong(Int, Int)

    public var description: String {
        switch self {
        case .emptyPrompt: return "the prompt has no tokens"
        case .promptTooLong(let count, let context):
            return "the prompt has \(count) tokens, but the model's context holds \(context)"
        }
    }
}
