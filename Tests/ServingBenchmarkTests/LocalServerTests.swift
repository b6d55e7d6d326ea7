import Foundation
import Testing

@testable import ServingBenchmark

/// End to end against `FakeOpenAIServer`: counts exact, timings roughly the server's delays.
@Suite(.serialized) struct LocalServerTests {
    func configuration(_ server: FakeOpenAIServer, model: String? = nil) -> ServingBenchmarkConfiguration {
        var configuration = ServingBenchmarkConfiguration(baseURL: server.baseURL)
        configuration.model = model
        configuration.numPrompts = 6
        configuration.maxConcurrency = 3
        configuration.inputLength = 20
        configuration.outputLength = 5
        configuration.ignoreEOS = true
        return configuration
    }

    @Test func measuresStreamingRequests() async throws {
        let server = try await FakeOpenAIServer(firstTokenDelay: .milliseconds(100), interTokenDelay: .milliseconds(30))
        defer { Task { await server.stop() } }
        let progress = ProgressLog()
        let result = try await ServingBenchmark(configuration: configuration(server))
            .run(progress: { done, total in progress.append(done, total) })
        #expect(result.completed == 6)
        #expect(result.failed == 0)
        #expect(result.totalOutputTokens == 30)
        #expect(result.totalInputTokens == 120)  // calibrated with /tokenize: exactly 20 each
        // The empty first chunk does not count: TTFT is at least the 100 ms delay, and the gaps at
        // least the 30 ms ones. No upper bounds: the tests share two cores with the model's suites,
        // which delayed the fake server's first chunk to a 454 ms mean once; TTFT and the gaps
        // still come before the end.
        #expect(result.ttft.mean >= 99 && result.ttft.mean < result.e2el.mean, "ttft \(result.ttft.mean)")
        #expect(result.itl.mean >= 25 && result.itl.mean < result.e2el.mean, "itl \(result.itl.mean)")
        #expect(abs(result.tpot.mean - result.itl.mean) < 1, "tpot \(result.tpot.mean) itl \(result.itl.mean)")
        #expect(result.e2el.mean >= 99 + 4 * 30)
        // 6 requests, 3 at a time, each ≥ 220 ms: at least two waves.
        #expect(result.duration >= 0.44)
        #expect(abs(result.requestThroughput - 6 / result.duration) < 1e-9)
        #expect(progress.values.last?.0 == 6 && progress.values.count == 6)
    }

    @Test func countsChunksWithoutUsage() async throws {
        let server = try await FakeOpenAIServer(firstTokenDelay: .milliseconds(5), interTokenDelay: .milliseconds(2))
        defer { Task { await server.stop() } }
        let result = try await ServingBenchmark(configuration: configuration(server, model: "fake-nousage")).run()
        #expect(result.completed == 6)
        #expect(result.totalOutputTokens == 30)
        #expect(result.totalInputTokens == 120)
    }

    @Test func countsFailuresWithoutThrowing() async throws {
        let server = try await FakeOpenAIServer(firstTokenDelay: .milliseconds(5), interTokenDelay: .milliseconds(2))
        defer { Task { await server.stop() } }
        var settings = configuration(server, model: "broken")
        await #expect(throws: ServingBenchmarkError.self) { try await ServingBenchmark(configuration: settings).run() }

        settings.warmUp = false
        let broken = try await ServingBenchmark(configuration: settings).run()
        #expect(broken.completed == 0 && broken.failed == 6)
        #expect(broken.errors.keys.first?.hasPrefix("HTTP 500") == true)

        settings.model = "cutoff"
        let cut = try await ServingBenchmark(configuration: settings).run()
        #expect(cut.completed == 0 && cut.failed == 6)
        #expect(cut.totalOutputTokens == 0)
    }

    @Test func unreachableServerIsAClearError() async throws {
        var settings = ServingBenchmarkConfiguration(baseURL: "http://127.0.0.1:1")
        settings.numPrompts = 1
        settings.connectTimeout = 1
        await #expect(throws: ServingBenchmarkError.self) { try await ServingBenchmark(configuration: settings).run() }
    }
}

final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [(Int, Int)] = []
    func append(_ done: Int, _ total: Int) { lock.withLock { storage.append((done, total)) } }
    var values: [(Int, Int)] { lock.withLock { storage } }
}

/// The shared-prefix workload: a few prefixes, each before as many prompts.
@Suite struct SharedPrefixTests {
    @Test func prefixesAreBalancedAndSeeded() async {
        let first = await PromptGenerator.sharedPrefixes(count: 3, length: 40, requests: 10, seed: 7, counter: nil)
        let again = await PromptGenerator.sharedPrefixes(count: 3, length: 40, requests: 10, seed: 7, counter: nil)
        #expect(first.prefixes == again.prefixes && first.assignment == again.assignment)
        #expect(first.prefixes.count == 3 && Set(first.prefixes.map(\.text)).count == 3)
        #expect(first.prefixes.allSatisfy { $0.text.split(separator: " ").count == 40 })
        #expect((0..<3).map { group in first.assignment.filter { $0 == group }.count } == [4, 3, 3])
        #expect(first.assignment != Array((0..<10).map { $0 % 3 }), "shuffled")
        // Not the prompts' own words.
        let prompt = PromptGenerator(inputLength: 40, seed: 7).text(index: 0, wordCount: 40)
        #expect(!first.prefixes.map(\.text).contains(prompt))
        #expect(await PromptGenerator.sharedPrefixes(count: 0, length: 0, requests: 10, seed: 7, counter: nil).prefixes.isEmpty)
    }

    /// Every request carries its prefix: the server counts prefix and prompt tokens.
    @Test func requestsCarryTheirPrefix() async throws {
        let server = try await FakeOpenAIServer(firstTokenDelay: .milliseconds(5), interTokenDelay: .milliseconds(2))
        defer { Task { await server.stop() } }
        var configuration = ServingBenchmarkConfiguration(baseURL: server.baseURL)
        configuration.numPrompts = 6
        configuration.inputLength = 20
        configuration.outputLength = 2
        configuration.sharedPrefixes = 2
        configuration.sharedPrefixLength = 30
        let result = try await ServingBenchmark(configuration: configuration).run()
        #expect(result.completed == 6)
        // The fake server counts space-separated words plus one BOS. Calibrated, the prefix has 29
        // words and the prompt 19; in the request the prefix's last word and the prompt's first
        // are one "word" across the "\n\n" between them: 29 + 19 - 1 words and one BOS.
        #expect(result.totalInputTokens == 6 * 48)
    }

    @Test func prefixSettingsAreChecked() {
        var configuration = ServingBenchmarkConfiguration(baseURL: "http://127.0.0.1:1")
        configuration.sharedPrefixes = 2
        #expect(throws: ServingBenchmarkError.self) { try configuration.validate() }
        configuration.sharedPrefixLength = 10
        #expect(throws: Never.self) { try configuration.validate() }
        configuration.sharedPrefixes = 101
        #expect(throws: ServingBenchmarkError.self) { try configuration.validate() }
    }
}
