import Grammar
import Randomness
import Testing

@testable import Engine

@Suite struct SamplingStateTests {
    /// Logits that depend on the step, so penalties and the generator both matter.
    private func row(_ step: Int) -> [Float] {
        var random = SplitMix64(seed: UInt64(step) &+ 99)
        return (0..<64).map { _ in Float(random.next() >> 40) / Float(1 << 24) * 4 }
    }

    private func run(_ state: inout SamplingState, steps: Range<Int>) -> [Int32] {
        steps.map { step in
            var logits = row(step)
            let token = logits.withUnsafeMutableBufferPointer { state.choose(from: $0) }
            state.accept(token)
            return token
        }
    }

    @Test(arguments: [
        SamplingParameters(temperature: 1, seed: 3),
        SamplingParameters(temperature: 0.7, topK: 10, repetitionPenalty: 1.5, presencePenalty: 0.5, frequencyPenalty: 1, seed: 11),
        SamplingParameters.greedy
    ])
    func rollingBackReplaysExactlyTheSameChoices(parameters: SamplingParameters) {
        var reference = SamplingState(parameters: parameters, promptTokens: [1, 2, 3])
        let expected = run(&reference, steps: 0..<20)
        for keep in [0, 1, 7, 19, 20] {
            var state = SamplingState(parameters: parameters, promptTokens: [1, 2, 3])
            let first = run(&state, steps: 0..<20)
            #expect(first == expected)
            state.rollBack(toAcceptedCount: keep)
            #expect(state.acceptedCount == keep)
            #expect(state.lastToken == (keep > 0 ? expected[keep - 1] : nil))
            #expect(run(&state, steps: keep..<20) == Array(expected[keep...]), "kept \(keep)")
        }
    }

    @Test func rollingBackPastTheEndChangesNothing() {
        var state = SamplingState(parameters: SamplingParameters(temperature: 1, seed: 5), promptTokens: [])
        let tokens = run(&state, steps: 0..<4)
        state.rollBack(toAcceptedCount: 9)
        state.rollBack(toAcceptedCount: -1)
        #expect(state.acceptedCount == 4)
        #expect(state.lastToken == tokens.last)
    }
}

@Suite struct ConstrainedStateTests {
    /// Tokens: 0 "a", 1 "b", 2 "</think>" (end of thinking), 3 end of text.
    private func runtime() throws -> ConstraintRuntime {
        ConstraintRuntime(
            grammar: try OutputConstraint.regex("a+").compile(), trie: TokenTrie(tokenBytes: [Array("a".utf8), Array("b".utf8), [], []]))
    }

    private func allowed(_ state: ConstrainedState) -> [Bool] {
        var logits = [Float](repeating: 0, count: 4)
        logits.withUnsafeMutableBufferPointer { state.mask($0) }
        return logits.map { $0 > -.infinity }
    }

    @Test func theConstraintStartsAfterTheThinkingModelsEndOfThinking() throws {
        var state = ConstrainedState(
            parameters: .greedy, promptTokens: [], runtime: try runtime(), endOfText: [3], startsAfter: 2)
        #expect(allowed(state) == [true, true, true, true])  // thinking: anything
        state.accept(1)
        state.accept(2)
        #expect(allowed(state) == [true, false, false, false])  // "a+" from here, not yet complete
        state.accept(0)
        #expect(allowed(state) == [true, false, false, true])  // complete: end of text allowed
        state.rollBack(toAcceptedCount: 1)  // back into the thinking section
        #expect(allowed(state) == [true, true, true, true])
        state.accept(2)
        #expect(allowed(state) == [true, false, false, false])
    }

    @Test func withoutThinkingTheConstraintStartsAtOnce() throws {
        var state = ConstrainedState(parameters: .greedy, promptTokens: [], runtime: try runtime(), endOfText: [3])
        #expect(allowed(state) == [true, false, false, false])
        state.accept(0)
        state.accept(0)
        state.rollBack(toAcceptedCount: 1)
        #expect(allowed(state) == [true, false, false, true])
    }
}
