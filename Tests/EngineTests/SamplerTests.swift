import Foundation
import Randomness
import Testing

@testable import Engine

/// Samples once from `logits` and checks that the sampler left the row as it found it.
private func sampleOnce(
    _ sampler: inout Sampler, _ logits: [Float],
    sourceLocation: SourceLocation = #_sourceLocation
) -> Int32 {
    var row = logits
    let token = row.withUnsafeMutableBufferPointer { sampler.sample($0) }
    #expect(row == logits, "the sampler must restore the logits row", sourceLocation: sourceLocation)
    return token
}

/// Draws `count` tokens from a fresh sampler and returns how often each token came up.
private func histogram(_ parameters: SamplingParameters, _ logits: [Float], count: Int) -> [Int] {
    var sampler = Sampler(parameters: parameters)
    var counts = Array(repeating: 0, count: logits.count)
    var row = logits
    row.withUnsafeMutableBufferPointer { buffer in
        for _ in 0..<count { counts[Int(sampler.sample(buffer))] += 1 }
    }
    return counts
}

/// Checks observed frequencies against `expected` probabilities within 5 standard errors.
private func expectFrequencies(
    _ counts: [Int], _ expected: [Double],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let n = Double(counts.reduce(0, +))
    for (index, p) in expected.enumerated() {
        let observed = Double(counts[index]) / n
        if p == 0 {
            #expect(counts[index] == 0, "token \(index) must never be drawn", sourceLocation: sourceLocation)
        } else {
            let standardError = (p * (1 - p) / n).squareRoot()
            #expect(
                abs(observed - p) < 5 * standardError,
                "token \(index): observed \(observed), expected \(p)", sourceLocation: sourceLocation)
        }
    }
}

private func normalized(_ weights: [Double]) -> [Double] {
    let total = weights.reduce(0, +)
    return weights.map { $0 / total }
}

@Suite struct SamplerTests {
    // MARK: Greedy

    @Test func greedyIsArgmaxWithLowestIdOnTies() {
        var sampler = Sampler(parameters: .greedy)
        #expect(sampleOnce(&sampler, [0.5, 2, -1, 1.9]) == 1)
        #expect(sampleOnce(&sampler, [1, 3, 3, 2]) == 1)
        #expect(sampleOnce(&sampler, [7, 7, 7]) == 0)
        #expect(sampleOnce(&sampler, [-.infinity, -.infinity, -5]) == 2)
        #expect(sampleOnce(&sampler, [-3, -2, -2.5]) == 1)
        var row: [Float] = [0, 4, 4, 1]
        #expect(row.withUnsafeMutableBufferPointer { Sampler.argmax($0) } == 1)
    }

    /// The vector argmax against a scalar scan on vocabulary-sized rows: ties in and across lanes,
    /// the maximum in the tail past the last full 8 lanes, NaNs (never chosen), all -infinity.
    @Test func argmaxMatchesAScalarScan() {
        func scalar(_ row: [Float]) -> Int32 {
            var best = 0, value = -Float.infinity
            for (i, x) in row.enumerated() where x > value { best = i; value = x }
            return Int32(best)
        }
        func vector(_ row: [Float]) -> Int32 {
            var copy = row
            return copy.withUnsafeMutableBufferPointer { Sampler.argmax($0) }
        }
        var random = SplitMix64(seed: 11)
        for count in [1, 7, 8, 9, 23, 49_152, 49_155] {
            for trial in 0..<6 {
                var row = (0..<count).map { _ in Float(Int(random.next() % 50)) }
                if trial == 1 { row[count - 1] = 100 }
                if trial == 2, count > 3 { row[1] = .nan; row[count - 2] = .nan }
                if trial == 3 { row = row.map { _ in -.infinity } }
                if trial == 4 { row = row.map { $0 == 49 ? .nan : $0 } }
                if trial == 5 { row[0] = .nan }
                #expect(vector(row) == scalar(row), "count \(count) trial \(trial)")
            }
        }
        #expect(vector([.nan, .nan]) == 0)
        #expect(vector([.nan, -.infinity, 3, .nan, 3]) == 2)
    }

    @Test func topKOneIsGreedyWhateverTheTemperature() {
        var topOne = Sampler(parameters: SamplingParameters(temperature: 5, topK: 1, seed: 3))
        for _ in 0..<200 { #expect(sampleOnce(&topOne, [0.1, 0.3, 0.2, 0.3]) == 1) }
    }

    @Test func tinyTopPKeepsOnlyTheMostLikelyToken() {
        var sampler = Sampler(parameters: SamplingParameters(temperature: 1, topP: 0.01, seed: 11))
        for _ in 0..<500 { #expect(sampleOnce(&sampler, [1, 1.2, 0.8, 1.19]) == 1) }
    }

    @Test func lowTemperatureBehavesLikeGreedy() {
        for temperature: Float in [1e-2, 1e-4] {
            var sampler = Sampler(parameters: SamplingParameters(temperature: temperature, seed: 5))
            for _ in 0..<300 { #expect(sampleOnce(&sampler, [0.3, 0.9, 0.5, 0.7]) == 1) }
        }
    }

    /// A valid but tiny temperature (1/T overflows Float to infinity) must still pick the argmax.
    @Test func extremelySmallTemperatureStillPicksTheArgmax() throws {
        let parameters = SamplingParameters(temperature: Float.leastNormalMagnitude / 8, seed: 5)  // 1.5e-39
        try parameters.validate()
        var sampler = Sampler(parameters: parameters)
        for _ in 0..<20 { #expect(sampleOnce(&sampler, [0.3, 0.9, 0.5, -2]) == 1) }
    }

    // MARK: Determinism

    @Test func sameSeedSameTokensDifferentSeedDifferentTokens() {
        let logits = (0..<64).map { Float($0 % 7) * 0.1 }
        func draws(seed: UInt64) -> [Int32] {
            var sampler = Sampler(parameters: SamplingParameters(temperature: 1, seed: seed))
            return (0..<100).map { _ in sampleOnce(&sampler, logits) }
        }
        let a = draws(seed: 1234)
        #expect(a == draws(seed: 1234))
        #expect(a != draws(seed: 1235))
        #expect(Set(a).count > 20, "temperature 1 over 64 near-equal logits must spread")
    }

    @Test func xoshiroMatchesTheReferenceAlgorithm() {
        // xoshiro256** seeded with SplitMix64, from a direct Python transcription of the reference C.
        var zero = Xoshiro256StarStar(seed: 0)
        #expect((0..<4).map { _ in zero.next() } == [0x99ec_5f36_cb75_f2b4, 0xbf6e_1f78_4956_452a, 0x1a5f_849d_4933_e6e0, 0x6aa5_94f1_262d_2d2c])
        var other = Xoshiro256StarStar(seed: 42)
        #expect((0..<4).map { _ in other.next() } == [0x1578_0b2e_0c2e_c716, 0x6104_d986_6d11_3a7e, 0xae17_5332_39e4_99a1, 0xecb8_ad47_03b3_60a1])
        var unit = Xoshiro256StarStar(seed: 7)
        for _ in 0..<1000 {
            let u = unit.nextUnitDouble()
            #expect(u >= 0 && u < 1)
        }
    }

    // MARK: Distribution

    @Test func temperatureOneMatchesTheSoftmax() {
        let probabilities = [0.1, 0.2, 0.3, 0.4]
        let logits = probabilities.map { Float(log($0)) + 3 }
        expectFrequencies(histogram(SamplingParameters(temperature: 1, seed: 99), logits, count: 20_000), probabilities)
    }

    @Test func temperatureScalesTheLogits() {
        let probabilities = [0.1, 0.2, 0.3, 0.4]
        let logits = probabilities.map { Float(log($0)) }
        // T = 2: p^(1/2), renormalized.
        expectFrequencies(
            histogram(SamplingParameters(temperature: 2, seed: 1), logits, count: 20_000),
            normalized(probabilities.map { $0.squareRoot() }))
        // T = 0.5: p^2, renormalized.
        expectFrequencies(
            histogram(SamplingParameters(temperature: 0.5, seed: 2), logits, count: 20_000),
            normalized(probabilities.map { $0 * $0 }))
    }

    @Test func topKTopPAndMinPRenormalizeOverTheKeptTokens() {
        let probabilities = [0.1, 0.2, 0.3, 0.4]
        let logits = probabilities.map { Float(log($0)) }
        // top-k 2 keeps tokens 3 and 2.
        expectFrequencies(
            histogram(SamplingParameters(topK: 2, seed: 3), logits, count: 20_000),
            [0, 0, 3.0 / 7, 4.0 / 7])
        // top-p 0.6: 0.4 < 0.6 <= 0.4 + 0.3.
        expectFrequencies(
            histogram(SamplingParameters(topP: 0.6, seed: 4), logits, count: 20_000),
            [0, 0, 3.0 / 7, 4.0 / 7])
        // top-p 0.8: 0.7 < 0.8 <= 0.9.
        expectFrequencies(
            histogram(SamplingParameters(topP: 0.8, seed: 5), logits, count: 20_000),
            [0, 2.0 / 9, 3.0 / 9, 4.0 / 9])
        // min-p 0.6: keep p >= 0.24.
        expectFrequencies(
            histogram(SamplingParameters(minP: 0.6, seed: 6), logits, count: 20_000),
            [0, 0, 3.0 / 7, 4.0 / 7])
        // min-p 0.6 with top-k 3 (the top-k path applies min-p separately): keep p >= 0.24.
        expectFrequencies(
            histogram(SamplingParameters(topK: 3, minP: 0.6, seed: 7), logits, count: 20_000),
            [0, 0, 3.0 / 7, 4.0 / 7])
        // min-p is relative to the tempered distribution: at T = 0.5, p^2 = .01 .04 .09 .16 and
        // min-p 0.3 keeps >= 0.048, i.e. tokens 2 and 3.
        expectFrequencies(
            histogram(SamplingParameters(temperature: 0.5, minP: 0.3, seed: 8), logits, count: 20_000),
            [0, 0, 9.0 / 25, 16.0 / 25])
        // top-k larger than the vocabulary is the full distribution.
        expectFrequencies(histogram(SamplingParameters(topK: 100, seed: 9), logits, count: 20_000), probabilities)
    }

    @Test func topKKeepsTheKBestAmongMany() {
        // 1000 tokens; the best 3 are scattered, with a tie at the boundary resolved by id.
        var logits = Array(repeating: Float(0), count: 1000)
        logits[917] = 5
        logits[3] = 5
        logits[450] = 4
        logits[451] = 4
        let counts = histogram(SamplingParameters(topK: 3, seed: 10), logits, count: 6000)
        let drawn = Set(counts.indices.filter { counts[$0] > 0 })
        #expect(drawn == [3, 917, 450])
    }

    @Test func topPAmongManyKeepsTheLikeliestPrefixInOrder() {
        // One likely token and 1000 unlikely ties (each below the first sorting threshold): top-p 0.9
        // must keep token 0 and the lowest-id ties up to the mass, exactly as a full sort would.
        let unlikely = 1000, tail = exp(-6.0)
        let logits = [Float(0)] + Array(repeating: Float(-6), count: unlikely)
        let target = 0.9 * (1 + Double(unlikely) * tail)
        let kept = Int(((target - 1) / tail).rounded(.up))  // the ties 1...kept reach the mass
        let counts = histogram(SamplingParameters(topP: 0.9, seed: 12), logits, count: 20_000)
        #expect(counts[(kept + 2)...].allSatisfy { $0 == 0 })  // (one more may come from rounding)
        #expect(counts[(kept / 2)...kept].reduce(0, +) > 0)
        let mass = 1 + Double(kept) * tail
        expectFrequencies([counts[0], counts[1...].reduce(0, +)], [1 / mass, Double(kept) * tail / mass])
    }

    @Test func fullDistributionAmongManyMatchesTheSoftmax() {
        // No top-k or top-p: drawn in token order without sorting, still the softmax.
        let logits = (0..<2000).map { Float(($0 * 7919) % 13) * 0.3 }
        let weights = logits.map { exp(Double($0)) }
        let counts = histogram(SamplingParameters(temperature: 1, seed: 13), logits, count: 40_000)
        // Compare by logit class (13 classes) to keep the expected counts large.
        var observed = Array(repeating: 0, count: 13), expected = Array(repeating: 0.0, count: 13)
        for (index, logit) in logits.enumerated() {
            let level = Int((logit / 0.3).rounded())
            observed[level] += counts[index]
            expected[level] += weights[index]
        }
        expectFrequencies(observed, normalized(expected))
    }

    @Test func nanLogitsFromABrokenModelStillGiveAToken() {
        let logits: [Float] = [1, .nan, 2, -.nan, 0.5]
        for parameters in [
            SamplingParameters(temperature: 1, seed: 1), SamplingParameters(topP: 0.9, seed: 2),
            SamplingParameters(minP: 0.1, seed: 3), SamplingParameters(topK: 3, seed: 4)
        ] {
            var sampler = Sampler(parameters: parameters)
            var row = logits
            let token = row.withUnsafeMutableBufferPointer { sampler.sample($0) }
            #expect((0..<5).contains(token))
        }
    }

    // MARK: Penalties

    @Test func repetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        // Prompt token 0 at logit 2: penalty 2 makes it 1.0, below token 1 (1.01) but above token 2 (0.99).
        var positive = Sampler(parameters: SamplingParameters(temperature: 0, repetitionPenalty: 2), promptTokens: [0])
        #expect(sampleOnce(&positive, [2, 1.01, 0.5]) == 1)
        #expect(sampleOnce(&positive, [2, 0.99, 0.5]) == 0)
        // Negative logit -1 times 2 is -2: below -1.99, above -2.01.
        var negative = Sampler(parameters: SamplingParameters(temperature: 0, repetitionPenalty: 2), promptTokens: [0])
        #expect(sampleOnce(&negative, [-1, -1.99, -5]) == 1)
        #expect(sampleOnce(&negative, [-1, -2.01, -5]) == 0)
        // A penalty below 1 favours repeated tokens.
        var favour = Sampler(parameters: SamplingParameters(temperature: 0, repetitionPenalty: 0.5))
        favour.accept(2)
        #expect(sampleOnce(&favour, [0, 1.5, 1]) == 2)
        // Output tokens count as well as prompt tokens.
        var output = Sampler(parameters: SamplingParameters(temperature: 0, repetitionPenalty: 2), promptTokens: [0])
        output.accept(1)
        #expect(sampleOnce(&output, [2, 2, 1.5]) == 2)
        // Out-of-range ids in the history are ignored.
        var outOfRange = Sampler(
            parameters: SamplingParameters(temperature: 0, repetitionPenalty: 2),
            promptTokens: [-1, 50])
        #expect(sampleOnce(&outOfRange, [0, 1]) == 1)
    }

    @Test func presenceAndFrequencyPenaltiesSubtractForOutputTokensOnly() {
        // Presence: a constant per token seen in the output, however often.
        var presence = Sampler(parameters: SamplingParameters(temperature: 0, presencePenalty: 0.5), promptTokens: [0])
        #expect(sampleOnce(&presence, [2, 1.6]) == 0, "prompt tokens are not penalized by presence")
        presence.accept(0)
        #expect(sampleOnce(&presence, [2, 1.51]) == 1)
        #expect(sampleOnce(&presence, [2, 1.49]) == 0)
        presence.accept(0)
        presence.accept(0)
        #expect(sampleOnce(&presence, [2, 1.49]) == 0, "presence does not grow with the count")

        // Frequency: per occurrence.
        var frequency = Sampler(parameters: SamplingParameters(temperature: 0, frequencyPenalty: 0.25))
        frequency.accept(0)
        #expect(sampleOnce(&frequency, [2, 1.74]) == 0)
        #expect(sampleOnce(&frequency, [2, 1.76]) == 1)
        frequency.accept(0)
        #expect(sampleOnce(&frequency, [2, 1.49]) == 0)
        #expect(sampleOnce(&frequency, [2, 1.51]) == 1)

        // Both, with a repetition penalty first: (2 / 2) - 0.5 - 2 * 0.25 = 0.
        var all = Sampler(
            parameters: SamplingParameters(
                temperature: 0, repetitionPenalty: 2, presencePenalty: 0.5,
                frequencyPenalty: 0.25))
        all.accept(0)
        all.accept(0)
        #expect(sampleOnce(&all, [2, 0.01]) == 1)
        #expect(sampleOnce(&all, [2, -0.01]) == 0)

        // Negative penalties reward repetition.
        var reward = Sampler(parameters: SamplingParameters(temperature: 0, presencePenalty: -1))
        reward.accept(1)
        #expect(sampleOnce(&reward, [2, 1.5]) == 1)
    }

    @Test func penaltiesShapeTheSampledDistributionAndLeaveLogitsIntact() {
        // Token 0 (p = 0.4) with presence 1 and frequency 0.5 after two occurrences: logit - 2.
        var sampler = Sampler(
            parameters: SamplingParameters(
                temperature: 1, presencePenalty: 1, frequencyPenalty: 0.5,
                seed: 21))
        sampler.accept(0)
        sampler.accept(0)
        let probabilities = [0.4, 0.3, 0.3]
        let logits = probabilities.map { Float(log($0)) }
        var counts = [0, 0, 0]
        for _ in 0..<20_000 { counts[Int(sampleOnce(&sampler, logits))] += 1 }
        expectFrequencies(counts, normalized([0.4 * exp(-2), 0.3, 0.3]))
    }

    // MARK: Validation

    @Test func validateAcceptsTheValidRange() throws {
        try SamplingParameters().validate()
        try SamplingParameters.greedy.validate()
        try SamplingParameters(
            temperature: 2, topK: -1, topP: 1, minP: 1, repetitionPenalty: 0.1,
            presencePenalty: 2, frequencyPenalty: -2, seed: 0
        ).validate()
        try SamplingParameters(topP: 1e-6, minP: 0, presencePenalty: -2, frequencyPenalty: 2).validate()
    }

    @Test(arguments: [
        (SamplingParameters(temperature: -0.1), "temperature"),
        (SamplingParameters(temperature: .nan), "temperature"),
        (SamplingParameters(temperature: .infinity), "temperature"),
        (SamplingParameters(topP: 0), "top_p"),
        (SamplingParameters(topP: 1.01), "top_p"),
        (SamplingParameters(topP: .nan), "top_p"),
        (SamplingParameters(minP: -0.01), "min_p"),
        (SamplingParameters(minP: 1.5), "min_p"),
        (SamplingParameters(repetitionPenalty: 0), "repetition_penalty"),
        (SamplingParameters(repetitionPenalty: -1), "repetition_penalty"),
        (SamplingParameters(repetitionPenalty: .infinity), "repetition_penalty"),
        (SamplingParameters(presencePenalty: 2.01), "presence_penalty"),
        (SamplingParameters(presencePenalty: -3), "presence_penalty"),
        (SamplingParameters(frequencyPenalty: 2.5), "frequency_penalty"),
        (SamplingParameters(frequencyPenalty: .nan), "frequency_penalty")
    ])
    func validateRejectsOutOfRangeValues(parameters: SamplingParameters, field: String) {
        do throws(SamplingError) {
            try parameters.validate()
            Issue.record("\(field) out of range was accepted")
        } catch {
            #expect(error.description.hasPrefix(field + " "), "message: \(error.description)")
        }
    }

    @Test func greedyFlag() {
        #expect(SamplingParameters.greedy.isGreedy)
        #expect(SamplingParameters(temperature: 1, topK: 1).isGreedy)
        #expect(!SamplingParameters(temperature: 0.01).isGreedy)
        #expect(!SamplingParameters(temperature: 1, topK: 2).isGreedy)
    }
}
