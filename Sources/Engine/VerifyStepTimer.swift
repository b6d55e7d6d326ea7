import Foundation
import Model

/// Times one sequence's forward pass of k new tokens (an input and k - 1 drafts) after a context:
/// what verifying drafts costs against a one-token decode step. Its own small f32 KV cache, so it
/// runs before or beside an engine without touching the engine's.
public struct VerifyStepTimer {
    private let model: LlamaModel
    private let cache: KVCache
    private let table: [Int32]
    private let tokens: [Int32]
    private let context: Int
    private static let blockSize = 16

    /// Prefills `context` positions of deterministic tokens; `maxTokens` bounds the k of `seconds(tokens:)`.
    public init(model: LlamaModel, context: Int, maxTokens: Int) throws {
        self.model = model
        self.context = context
        let blocks = (context + maxTokens + Self.blockSize - 1) / Self.blockSize
        cache = model.makeKVCache(blockSize: Self.blockSize, blockCount: blocks, precision: .float32)
        table = (0..<blocks).map { Int32($0) }
        let vocabulary = max(min(model.configuration.vocabularySize, 32000), 1)
        tokens = (0..<(context + maxTokens)).map { Int32(($0 * 7919 + 17) % vocabulary) }
        var start = 0
        while start < context {
            let end = min(start + 512, context)
            try forward(start..<end)
            start = end
        }
    }

    /// Seconds of one forward pass of `k` tokens after the context, with a logit row for each.
    public func seconds(tokens k: Int) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try forward(context..<min(context + k, tokens.count))
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    private func forward(_ range: Range<Int>) throws {
        var batch = ForwardBatch()
        batch.append(
            tokens: tokens[range], firstPosition: range.lowerBound, blockTable: table, blockSize: Self.blockSize,
            logitCount: range.count)
        try model.forward(batch, cache: cache) { _ in }
    }
}

extension Speculation {
    /// Sets `draftCost` and `tokenCost` from `model` on this machine: one-sequence steps of 1, 2 and
    /// 8 tokens after 64 positions, interleaved over `repetitions` rounds (after a warm-up round) so
    /// that a change of load touches all three, the fastest of each.
    public mutating func measureCosts(of model: LlamaModel, repetitions: Int = 5) throws {
        let timer = try VerifyStepTimer(model: model, context: 64, maxTokens: 8)
        let counts = [1, 2, 8]
        var fastest = [Double](repeating: .infinity, count: counts.count)
        for round in 0...max(repetitions, 1) {
            for (index, k) in counts.enumerated() {
                let seconds = try timer.seconds(tokens: k)
                if round > 0 { fastest[index] = min(fastest[index], seconds) }
            }
        }
        let one = fastest[0], two = fastest[1], eight = fastest[2]
        tokenCost = max((eight - two) / (6 * one), 0.01)
        draftCost = max((two - one) / one - tokenCost, 0)
    }
}
