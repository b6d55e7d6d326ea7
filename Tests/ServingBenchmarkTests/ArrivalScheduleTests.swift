import Foundation
import Randomness
import Testing

@testable import ServingBenchmark

struct ArrivalScheduleTests {
    func intervals(rate: Double, burstiness: Double, count: Int, seed: UInt64 = 42) -> [Double] {
        var generator = SeededGenerator(seed: seed)
        let schedule = ArrivalSchedule(requestRate: rate, burstiness: burstiness)
        return (0..<count).map { _ in schedule.nextInterval(generator: &generator) }
    }

    /// Gamma(k, θ = 1/(r·k)) has mean 1/r and variance 1/(r²·k).
    @Test(arguments: [(4.0, 1.0), (4.0, 0.5), (10.0, 3.0), (2.0, 0.2)])
    func intervalMomentsMatchGamma(rate: Double, burstiness: Double) {
        let sample = intervals(rate: rate, burstiness: burstiness, count: 200_000)
        let mean = sample.reduce(0, +) / Double(sample.count)
        let variance = sample.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(sample.count)
        #expect(abs(mean - 1 / rate) / (1 / rate) < 0.01, "mean \(mean)")
        let expectedVariance = 1 / (rate * rate * burstiness)
        #expect(abs(variance - expectedVariance) / expectedVariance < 0.04, "variance \(variance)")
        #expect(sample.allSatisfy { $0 > 0 })
    }

    @Test func poissonIntervalsAreExponential() {
        // For an exponential, P(X > mean) = e^-1.
        let sample = intervals(rate: 5, burstiness: 1, count: 200_000)
        let above = Double(sample.filter { $0 > 0.2 }.count) / Double(sample.count)
        #expect(abs(above - exp(-1)) < 0.005)
    }

    @Test func offsetsStartAtZeroAndAreSeeded() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7), c = SeededGenerator(seed: 8)
        let schedule = ArrivalSchedule(requestRate: 3)
        let first = schedule.offsets(count: 50, generator: &a)
        #expect(first == schedule.offsets(count: 50, generator: &b))
        #expect(first != schedule.offsets(count: 50, generator: &c))
        #expect(first[0] == 0)
        #expect(zip(first, first.dropFirst()).allSatisfy { $0 <= $1 })
        var d = SeededGenerator(seed: 1)
        #expect(ArrivalSchedule(requestRate: .infinity).offsets(count: 5, generator: &d) == [0, 0, 0, 0, 0])
    }

    @Test func promptsAreDistinctAndReproducible() async {
        let generator = PromptGenerator(inputLength: 32, seed: 3)
        let prompts = await (0..<20).asyncMap { await generator.prompt(index: $0, counter: nil) }
        #expect(Set(prompts.map(\.text)).count == 20)
        #expect(prompts.allSatisfy { $0.text.split(separator: " ").count == 32 && $0.tokens == 32 })
        #expect(await generator.prompt(index: 5, counter: nil) == prompts[5])
    }

    @Test func calibrationHitsTheServerCount() async {
        // A fake tokenizer: a BOS token plus two tokens for words longer than five letters.
        let counter: PromptGenerator.TokenCounter = { text in
            1 + text.split(separator: " ").reduce(0) { $0 + ($1.count > 5 ? 2 : 1) }
        }
        let generator = PromptGenerator(inputLength: 50, seed: 9)
        for index in 0..<10 {
            let prompt = await generator.prompt(index: index, counter: counter)
            #expect(prompt.calibrated)
            #expect(await counter(prompt.text) == prompt.tokens)
            #expect(abs(prompt.tokens - 50) <= 1, "got \(prompt.tokens)")
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async -> T) async -> [T] {
        var values: [T] = []
        for element in self { values.append(await transform(element)) }
        return values
    }
}
