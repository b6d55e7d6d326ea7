import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A streaming load generator for any OpenAI-compatible server, measuring what `vllm bench serve`
/// measures, with the same definitions (see `ServingMetrics`).
///
/// A run: resolve the model name, build the prompts (calibrated with the server's `/tokenize`
/// when it has one), send one test request, then send `numPrompts` streaming requests at the
/// configured arrival times through at most `maxConcurrency` slots, and compute the metrics.
/// Request failures are counted in the result, never thrown.
public struct ServingBenchmark: Sendable {
    /// The settings of this benchmark.
    public let configuration: ServingBenchmarkConfiguration

    /// Creates a benchmark; throws if the configuration is out of range.
    public init(configuration: ServingBenchmarkConfiguration) throws(ServingBenchmarkError) {
        try configuration.validate()
        self.configuration = configuration
    }

    private var root: String {
        var url = configuration.baseURL
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// Runs the benchmark. `progress` is called with (finished, total) as requests end;
    /// `log` receives the preamble lines vLLM prints (model, rate, burstiness, concurrency).
    public func run(
        progress: (@Sendable (Int, Int) -> Void)? = nil,
        log: (@Sendable (String) -> Void)? = nil
    ) async throws -> ServingBenchmarkResult {
        let slots = min(configuration.maxConcurrency ?? configuration.numPrompts, configuration.numPrompts)
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: slots + 1)
        clientConfiguration.timeout = .init(connect: .milliseconds(Int64(configuration.connectTimeout * 1000)))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        do {
            let result = try await run(client: client, progress: progress, log: log)
            try? await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    private func run(
        client: HTTPClient, progress: (@Sendable (Int, Int) -> Void)?,
        log: (@Sendable (String) -> Void)?
    ) async throws -> ServingBenchmarkResult {
        let model = try await resolveModel(client: client)
        log?("Model: \(model)")

        let counter = configuration.calibratePrompts ? await tokenCounter(client: client, model: model) : nil
        let generator = PromptGenerator(inputLength: configuration.inputLength, seed: configuration.seed)
        var prompts: [PromptGenerator.Prompt] = []
        prompts.reserveCapacity(configuration.numPrompts)
        for index in 0..<configuration.numPrompts {
            prompts.append(await generator.prompt(index: index, counter: counter))
        }
        let calibrated = prompts.filter(\.calibrated).count
        let meanTokens = Double(prompts.reduce(0) { $0 + $1.tokens }) / Double(prompts.count)
        log?(
            calibrated > 0
                ? "Prompts: \(prompts.count), calibrated with the server's tokenizer, mean \(String(format: "%.1f", meanTokens)) tokens (target \(configuration.inputLength))"
                : "Prompts: \(prompts.count), ~\(configuration.inputLength) tokens each (estimated: the server has no /tokenize)")
        let shared = await PromptGenerator.sharedPrefixes(
            count: configuration.sharedPrefixes, length: configuration.sharedPrefixLength, requests: prompts.count,
            seed: configuration.seed, counter: counter)
        for (index, group) in shared.assignment.enumerated() {
            prompts[index].prefix = shared.prefixes[group].text
            prompts[index].prefixTokens = shared.prefixes[group].tokens
        }
        if !shared.prefixes.isEmpty {
            let mean = Double(shared.prefixes.reduce(0) { $0 + $1.tokens }) / Double(shared.prefixes.count)
            log?(
                "Shared prefixes: \(shared.prefixes.count), mean \(String(format: "%.1f", mean)) tokens, before each prompt (about \(prompts.count / shared.prefixes.count) requests each)"
            )
        }

        if configuration.warmUp {
            log?("Starting initial single prompt test run...")
            let test = await send(
                client: client, model: model, prompt: prompts[0],
                maxTokens: min(configuration.outputLength, 16))
            guard test.success else {
                throw ServingBenchmarkError.serverUnusable(
                    "initial test run failed; check the URL, endpoint and model: \(test.error ?? "unknown error")")
            }
        }

        var random = SeededGenerator(seed: configuration.seed)
        let offsets = ArrivalSchedule(requestRate: configuration.requestRate, burstiness: configuration.burstiness)
            .offsets(count: prompts.count, generator: &random)
        let rate = configuration.requestRate.isFinite ? "\(configuration.requestRate)" : "inf"
        log?("Traffic request rate: \(rate)")
        log?("Burstiness factor: \(configuration.burstiness) (\(configuration.burstiness == 1 ? "Poisson process" : "Gamma distribution"))")
        log?("Maximum request concurrency: \(configuration.maxConcurrency.map(String.init) ?? "None")")

        let semaphore = configuration.maxConcurrency.map { AsyncSemaphore(limit: $0) }
        let clock = ContinuousClock()
        let start = clock.now
        let total = prompts.count
        var records = [RequestRecord?](repeating: nil, count: total)
        await withTaskGroup(of: (Int, RequestRecord).self) { group in
            for (index, prompt) in prompts.enumerated() {
                let sendTime = start + .nanoseconds(Int64((offsets[index] * 1e9).rounded()))
                group.addTask {
                    try? await Task.sleep(until: sendTime, clock: clock)
                    await semaphore?.acquire()
                    let record = await send(
                        client: client, model: model, prompt: prompt,
                        maxTokens: configuration.outputLength)
                    await semaphore?.release()
                    return (index, record)
                }
            }
            var done = 0
            for await (index, record) in group {
                records[index] = record
                done += 1
                progress?(done, total)
            }
        }
        let duration = Self.seconds(clock.now - start)

        var result = ServingMetrics.compute(
            records: records.compactMap { $0 }, duration: duration,
            objectives: configuration.objectives)
        result.requestRate = configuration.requestRate
        result.burstiness = configuration.burstiness
        result.maxConcurrency = configuration.maxConcurrency
        return result
    }

    /// Sends one streaming request and records what was observed; never throws.
    func send(client: HTTPClient, model: String, prompt: PromptGenerator.Prompt, maxTokens: Int) async -> RequestRecord {
        var body: [String: Any] = [
            "model": model,
            "max_tokens": maxTokens,
            "temperature": 0,
            "stream": true,
            "stream_options": ["include_usage": true]
        ]
        if configuration.isChat {
            let system = prompt.prefix.map { [["role": "system", "content": $0]] } ?? []
            body["messages"] = system + [["role": "user", "content": prompt.text]]
        } else {
            body["prompt"] = prompt.prefix.map { $0 + "\n\n" + prompt.text } ?? prompt.text
        }
        if configuration.ignoreEOS { body["ignore_eos"] = true }

        var request = HTTPClientRequest(url: root + configuration.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let apiKey = configuration.apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        do {
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        } catch {
            return .failure("could not encode the request: \(error)", promptTokens: prompt.totalTokens)
        }

        let clock = ContinuousClock()
        let start = clock.now
        var accumulator = StreamAccumulator()
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(configuration.requestTimeout * 1e9)))
            guard response.status == .ok else {
                let errorBody = (try? await response.body.collect(upTo: 1 << 16)).map { String(buffer: $0) } ?? ""
                return .failure("HTTP \(response.status.code): \(errorBody.prefix(300))", promptTokens: prompt.totalTokens)
            }
            var parser = SSEParser()
            for try await buffer in response.body {
                let time = Self.seconds(clock.now - start)
                for event in parser.feed(buffer.readableBytesView) {
                    try accumulator.consume(event, at: time)
                }
            }
            let time = Self.seconds(clock.now - start)
            for event in parser.finish() {
                try accumulator.consume(event, at: time)
            }
        } catch let error as StreamAccumulator.StreamError {
            return .failure(error.description, promptTokens: prompt.totalTokens)
        } catch {
            return .failure(Self.describe(error), promptTokens: prompt.totalTokens)
        }
        return accumulator.record(promptTokens: prompt.totalTokens)
    }

    /// The configured model, or the first one the server lists.
    private func resolveModel(client: HTTPClient) async throws -> String {
        if let model = configuration.model { return model }
        var request = HTTPClientRequest(url: root + "/v1/models")
        if let apiKey = configuration.apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .ok,
                let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
                let data = object["data"] as? [[String: Any]],
                let id = data.first?["id"] as? String
            else {
                throw ServingBenchmarkError.serverUnusable("GET /v1/models listed no model; pass --model")
            }
            return id
        } catch let error as ServingBenchmarkError {
            throw error
        } catch {
            throw ServingBenchmarkError.serverUnusable("cannot reach \(root)/v1/models: \(Self.describe(error)); pass --model or check --base-url")
        }
    }

    /// A token counter backed by the server's tokenizer, if it exposes one: `POST /tokenize`
    /// (vLLM: `{"prompt"}` → `{"count", "tokens"}`; llama.cpp's server: `{"content"}` → `{"tokens"}`;
    /// both keys are sent) or llama-cpp-python's `POST /extras/tokenize` (`{"input"}` → `{"tokens"}`).
    private func tokenCounter(client: HTTPClient, model: String) async -> PromptGenerator.TokenCounter? {
        let candidates: [(path: String, key: String)] = [("/tokenize", "prompt"), ("/extras/tokenize", "input")]
        for candidate in candidates {
            let counter: PromptGenerator.TokenCounter = { [root, apiKey = configuration.apiKey] text in
                var body: [String: Any] = ["model": model, candidate.key: text]
                if candidate.key == "prompt" { body["content"] = text }
                guard let data = try? JSONSerialization.data(withJSONObject: body) else { return nil }
                var request = HTTPClientRequest(url: root + candidate.path)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
                request.body = .bytes(ByteBuffer(bytes: data))
                guard let response = try? await client.execute(request, timeout: .seconds(30)),
                    let buffer = try? await response.body.collect(upTo: 1 << 22),
                    response.status == .ok,
                    let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any]
                else { return nil }
                if let count = object["count"] as? Int { return count }
                return (object["tokens"] as? [Any])?.count
            }
            if let count = await counter("hello world"), count > 0 { return counter }
        }
        return nil
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }

    static func describe(_ error: Error) -> String {
        if let error = error as? HTTPClientError { return "HTTP client error: \(error)" }
        return String(describing: error)
    }
}
