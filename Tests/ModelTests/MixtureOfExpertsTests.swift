import Foundation
import GGUF
import Testing

@testable import Model

/// The mixture-of-experts path beyond the reference logits (SyntheticModelReferenceTests): the
/// router's softmax and top-k, batching several sequences (tokens grouped by expert) against each
/// sequence alone, and what `tandem inspect` reports.
@Suite struct MixtureOfExpertsTests {
    @Test func routingTakesTheMostProbableExpertsAndRenormalisesWhenAsked() {
        var logits: [Float] = [0, 1, 3, 2]
        var selected = [Int32](repeating: -1, count: 2)
        var weights = [Float](repeating: 0, count: 2)
        ExpertWeights.route(&logits, count: 4, used: 2, normalizes: true, selected: &selected, weights: &weights)
        #expect(selected == [2, 3])
        // softmax over the two selected logits (3, 2).
        #expect(abs(weights[0] - Float(1 / (1 + exp(-1.0)))) < 1e-6)
        #expect(abs(weights[1] - Float(exp(-1.0) / (1 + exp(-1.0)))) < 1e-6)

        logits = [0, 1, 3, 2]
        ExpertWeights.route(&logits, count: 4, used: 2, normalizes: false, selected: &selected, weights: &weights)
        let total = 1 + exp(1.0) + exp(2.0) + exp(3.0)
        #expect(selected == [2, 3])
        #expect(abs(weights[0] - Float(exp(3.0) / total)) < 1e-6)
        #expect(abs(weights[1] - Float(exp(2.0) / total)) < 1e-6)

        // Ties go to the lower index.
        logits = [1, 5, 5, 1]
        ExpertWeights.route(&logits, count: 4, used: 2, normalizes: true, selected: &selected, weights: &weights)
        #expect(selected == [1, 2])
        #expect(weights == [0.5, 0.5])
    }

    /// Three prompts prefilled together in chunks (every step holds a chunk of each sequence, so the
    /// experts see tokens of all three at once) give the same logits, bit for bit, as each prompt run
    /// alone: routing is per token and the grouped products are batch invariant.
    @Test(arguments: ["tiny-qwen3moe", "tiny-mixtral", "tiny-olmoe", "tiny-qwen3moe-q8", "tiny-mixtral-q4k"])
    func batchedSequencesEqualEachSequenceAlone(name: String) throws {
        let model = try LlamaModel(file: Fixtures.generatedModel(name))
        let reference = try Fixtures.json("generated/\(name).json", as: SyntheticModelReferenceTests.Reference.self)
        let prompts = reference.prompts.map { $0.tokens + $0.greedy_tokens }
        let alone = try prompts.map { try logitsOfEveryPosition(model, tokens: $0, chunk: 64) }

        let blockSize = 16
        let tables = prompts.indices.map { index in
            let blocks = (prompts[index].count + blockSize - 1) / blockSize
            let first = prompts[..<index].reduce(0) { $0 + ($1.count + blockSize - 1) / blockSize }
            return (first..<(first + blocks)).map { Int32($0) }
        }
        let cache = model.makeKVCache(blockSize: blockSize, blockCount: tables.reduce(0) { $0 + $1.count })
        var together: [[[Float]]] = prompts.map { _ in [] }
        var done = prompts.map { _ in 0 }
        let chunk = 5
        let vocabulary = model.configuration.vocabularySize
        while zip(done, prompts).contains(where: { $0 < $1.count }) {
            var batch = ForwardBatch()
            var members: [(index: Int, count: Int)] = []
            for (index, prompt) in prompts.enumerated() where done[index] < prompt.count {
                let end = min(done[index] + chunk, prompt.count)
                batch.append(
                    tokens: prompt[done[index]..<end], firstPosition: done[index], blockTable: tables[index],
                    blockSize: blockSize, logitCount: end - done[index])
                members.append((index, end - done[index]))
                done[index] = end
            }
            try model.forward(batch, cache: cache) { logits in
                var row = 0
                for member in members {
                    for _ in 0..<member.count {
                        together[member.index].append(Array(logits[(row * vocabulary)..<((row + 1) * vocabulary)]))
                        row += 1
                    }
                }
            }
        }
        #expect(together == alone)
    }

    @Test func inspectReportsTheExperts() throws {
        let configuration = try ModelSupport.check(Fixtures.generatedModel("tiny-olmoe"))
        #expect(
            configuration.featureSummary
                == "q/k norms, q/k norms over the whole projection, 8 experts, 3 per token (softmax router, "
                + "top-k not renormalised), expert feed-forward 32")
        let qwen = try ModelSupport.check(Fixtures.generatedModel("tiny-qwen3moe"))
        #expect(qwen.experts == ExpertConfiguration(count: 8, usedCount: 2, feedForwardWidth: 32, normalizesTopK: true))
        #expect(qwen.architecture == .qwen3moe)
        let mixtral = try ModelSupport.check(Fixtures.generatedModel("tiny-mixtral"))
        #expect(mixtral.experts == ExpertConfiguration(count: 8, usedCount: 2, feedForwardWidth: 32, normalizesTopK: true))
    }
}
