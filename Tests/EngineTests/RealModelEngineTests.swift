import Foundation
import GGUF
import Grammar
import JSON
import Model
import ModelStore
import Testing
import Tokenizer

@testable import Engine

/// The default model and its tokenizer, loaded once for all engine tests.
enum Shared {
    static let loaded: Result<(LlamaModel, Tokenizer), any Error> = Result {
        let path = try ProcessInfo.processInfo.environment["TANDEM_MODEL"] ?? DefaultModel.resolve()
        let file = try GGUFFile(path: path)
        return (try LlamaModel(file: file), try Tokenizer(metadata: file.metadata))
    }

    static func engine(
        asynchronous: Bool = true, kvCacheTokens: Int = 8192, maxBatchTokens: Int = 256,
        maxSequences: Int = 64, speculation: Speculation? = nil
    ) throws -> Engine {
        let (model, tokenizer) = try loaded.get()
        var configuration = Engine.Configuration()
        configuration.asynchronous = asynchronous
        configuration.speculation = speculation
        configuration.maxBatchTokens = maxBatchTokens
        configuration.maxSequences = maxSequences
        var cache = CPUDevice.CacheConfiguration()
        cache.tokens = kvCacheTokens
        return Engine(model: model, tokenizer: tokenizer, configuration: configuration, cache: cache)
    }

    static func prompt(_ text: String) throws -> [Int32] {
        try loaded.get().1.encode(text, addSpecial: true, parseSpecial: true)
    }

    static let topics = [
        "The history of the Roman Empire", "How to bake bread at home", "The life cycle of a star",
        "Why the sky is blue", "A short poem about the sea", "The rules of chess", "How vaccines work",
        "The causes of the French Revolution", "What is machine learning", "A recipe for pancakes",
        "The geography of Japan", "How airplanes fly", "The story of Cinderella", "Photosynthesis explained",
        "The benefits of exercise", "How to learn a language", "The water cycle", "A letter to a friend",
        "The planets of the solar system", "How computers store data", "The invention of the printing press",
        "Tips for a job interview", "The history of jazz", "How bees make honey", "The importance of sleep",
        "A day in the life of a farmer", "How volcanoes erupt", "The rules of football", "Climate and weather",
        "The human heart", "How the internet works", "A fairy tale about a dragon"
    ]

    /// Whether the engine's KV cache usage drops to zero within a second (statistics are
    /// published by the engine thread after each step).
    static func eventuallyEmpty(_ engine: Engine) async throws -> Bool {
        for _ in 0..<100 {
            if engine.currentStatistics.kvCacheUsage == 0 { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    static func chat(_ question: String) -> String {
        "<|im_start|>user\n\(question)<|im_end|>\n<|im_start|>assistant\n"
    }
}

@Suite(.serialized) struct RealModelEngineTests {
    /// Mixed requests: greedy and seeded sampling, short and long prompts, stop strings.
    func mixedRequests() throws -> [GenerationRequest] {
        var requests: [GenerationRequest] = []
        for (index, topic) in Shared.topics.prefix(12).enumerated() {
            let sampling =
                index % 3 == 0
                ? SamplingParameters.greedy
                : SamplingParameters(
                    temperature: 0.9, topK: 50, topP: 0.9, minP: 0.02,
                    repetitionPenalty: index % 2 == 0 ? 1.1 : 1, seed: UInt64(index))
            let text = index % 2 == 0 ? Shared.chat("Tell me about: \(topic)") : "\(topic) is"
            requests.append(
                GenerationRequest(
                    id: "r\(index)", promptTokens: try Shared.prompt(text), sampling: sampling,
                    maxTokens: 8 + 5 * index, stopStrings: index == 5 ? ["\n\n"] : []))
        }
        return requests
    }

    @Test func asynchronousAndSynchronousModesGiveIdenticalTokens() async throws {
        let requests = try mixedRequests()
        let asyncEngine = try Shared.engine(asynchronous: true)
        let asyncResults = try await asyncEngine.generateBatch(requests)
        asyncEngine.shutdown()
        let syncEngine = try Shared.engine(asynchronous: false)
        let syncResults = try await syncEngine.generateBatch(requests)
        syncEngine.shutdown()
        for (a, s) in zip(asyncResults, syncResults) {
            #expect(a.tokenIDs == s.tokenIDs, "\(a.id)")
            #expect(a.text == s.text, "\(a.id)")
            #expect(a.finishReason == s.finishReason, "\(a.id)")
            #expect(!a.tokenIDs.isEmpty || a.finishReason == .stop)
        }
    }

    /// Input-grounded requests (drafts get accepted), greedy and seeded sampling with penalties and
    /// log-probabilities, each alone (the single-sequence fast path) and all together: speculative
    /// decoding gives exactly the tokens, text, log-probabilities and finish reasons of decoding
    /// without it, in both modes.
    @Test(arguments: [true, false])
    func speculativeDecodingGivesTheSameOutputs(asynchronous: Bool) async throws {
        let source = """
            def compute_average(values):
                \"\"\"Return the average of a list of numbers.\"\"\"
                if not values:
                    return 0.0
                total = 0
                for value in values:
                    total += vlaue
                return total / len(values)
            """
        let questions = [
            "Fix the typo in this Python function and return the whole function:\n\n\(source)",
            "Rename the function to mean and return the code:\n\n\(source)",
            "Repeat this sentence three times: The quick brown fox jumps over the lazy dog.",
            "List the words of this sentence, one per line: Tandem prepares the next batch while the device computes."
        ]
        var requests: [GenerationRequest] = []
        for (index, question) in questions.enumerated() {
            for variant in 0..<2 {
                var request = GenerationRequest(
                    id: "q\(index)v\(variant)", promptTokens: try Shared.prompt(Shared.chat(question)),
                    sampling: variant == 0 ? .greedy : SamplingParameters(temperature: 0.7, topK: 40, repetitionPenalty: 1.05, seed: UInt64(index)),
                    maxTokens: 60, stopStrings: index == 3 ? ["Tandem\nprepares\nthe"] : [])
                request.topLogprobs = variant == 1 ? 3 : nil
                requests.append(request)
            }
        }
        // And an extraction under a JSON schema: drafted positions are masked by the grammar.
        let schema = try JSONValue.parse(
            Array(#"{"type":"object","properties":{"name":{"type":"string"},"city":{"type":"string"}},"required":["name","city"]}"#.utf8))
        let constrained = try Shared.engine()
        var extraction = GenerationRequest(
            id: "json", promptTokens: try Shared.prompt(Shared.chat("Return the name and the city as JSON: Alice Martin lives in Paris.")),
            maxTokens: 40)
        extraction.constraint = try constrained.constraint(.jsonSchema(schema))
        constrained.shutdown()
        requests.append(extraction)
        var speculation = Speculation()
        speculation.tokenCost = 0  // draft wherever the n-grams match
        speculation.draftCost = 0
        var outputs: [[GenerationResult]] = []
        var accepted = 0
        for drafting in [nil, speculation] {
            let engine = try Shared.engine(asynchronous: asynchronous, speculation: drafting)
            var results: [GenerationResult] = []
            for request in requests { results += try await engine.generateBatch([request]) }
            let together = try await engine.generateBatch(requests)
            accepted += engine.currentStatistics.acceptedDraftTokens
            engine.shutdown()
            for (alone, batched) in zip(results, together) where alone.finishReason != .abort {
                #expect(alone.tokenIDs == batched.tokenIDs, "\(alone.id): alone and batched differ")
            }
            outputs.append(together)
        }
        #expect(accepted > 40, "drafts were accepted: \(accepted)")
        for (plain, speculative) in zip(outputs[0], outputs[1]) {
            #expect(plain.tokenIDs == speculative.tokenIDs, "\(plain.id)")
            #expect(plain.text == speculative.text, "\(plain.id)")
            #expect(plain.logprobs == speculative.logprobs, "\(plain.id)")
            #expect(plain.finishReason == speculative.finishReason, "\(plain.id)")
        }
    }

    @Test func greedyTokensDoNotDependOnTheBatch() async throws {
        let probe = GenerationRequest(
            id: "probe", promptTokens: try Shared.prompt(Shared.chat("Why is the sky blue?")),
            maxTokens: 40, ignoreEOS: true)
        let alone = try Shared.engine()
        let aloneResult = try await alone.generateBatch([probe])[0]
        alone.shutdown()

        var batch = [probe]
        for (index, topic) in Shared.topics.enumerated().dropFirst() {
            batch.append(
                GenerationRequest(
                    id: "other\(index)", promptTokens: try Shared.prompt(Shared.chat(topic)),
                    maxTokens: 10 + index, ignoreEOS: true))
        }
        #expect(batch.count == 32)
        let crowded = try Shared.engine(maxBatchTokens: 512)
        let crowdedResults = try await crowded.generateBatch(batch)
        let statistics = crowded.currentStatistics
        crowded.shutdown()
        #expect(crowdedResults[0].tokenIDs == aloneResult.tokenIDs)
        #expect(aloneResult.tokenIDs.count == 40)
        #expect(statistics.meanBatchSize > 4, "the probe really shared steps with others")
    }

    @Test func preemptionUnderATinyCacheLosesNothing() async throws {
        var requests: [GenerationRequest] = []
        for (index, topic) in Shared.topics.prefix(8).enumerated() {
            requests.append(
                GenerationRequest(
                    id: "p\(index)", promptTokens: try Shared.prompt("\(topic):"),
                    maxTokens: 48, ignoreEOS: true))
        }
        let roomy = try Shared.engine()
        let expected = try await roomy.generateBatch(requests)
        roomy.shutdown()

        // 8 blocks of 16 tokens: one request needs ~4, so at most two run at a time.
        let tiny = try Shared.engine(kvCacheTokens: 128)
        let results = try await tiny.generateBatch(requests)
        let statistics = tiny.currentStatistics
        #expect(statistics.preemptions > 0)
        for (result, reference) in zip(results, expected) {
            #expect(result.finishReason == .length)
            #expect(result.tokenIDs.count == 48)
            #expect(result.tokenIDs == reference.tokenIDs, "\(result.id)")
        }
        #expect(try await Shared.eventuallyEmpty(tiny))
        tiny.shutdown()
    }

    @Test func abortMidGenerationFreesItsBlocks() async throws {
        let engine = try Shared.engine()
        let stream = try engine.submit(
            GenerationRequest(
                id: "long", promptTokens: try Shared.prompt("Once upon a time"),
                maxTokens: 2000, ignoreEOS: true))
        var received = 0
        var finish: FinishReason?
        for await event in stream {
            switch event {
            case .output(let output):
                received += output.tokenIDs.count
                if received == 5 {
                    #expect(engine.currentStatistics.kvCacheUsage > 0)
                    engine.abort(id: "long")
                }
            case .finished(let reason, let usage):
                finish = reason
                #expect(usage.completionTokens < 50)
            }
        }
        #expect(finish == .abort)
        // The blocks come back once the step in flight at the abort has completed.
        #expect(try await Shared.eventuallyEmpty(engine))
        engine.shutdown()
    }

    @Test func prefixCacheHitGivesTheSameTokensAsAMiss() async throws {
        let prompt = try Shared.prompt(
            Shared.chat(
                "Write three sentences about the history of astronomy, "
                    + "from ancient Babylon to the space telescopes of today, for a curious child."))
        #expect(prompt.count > 32)
        let engine = try Shared.engine()
        let first = try await engine.generateBatch([GenerationRequest(id: "miss", promptTokens: prompt, maxTokens: 24)])[0]
        let second = try await engine.generateBatch([GenerationRequest(id: "hit", promptTokens: prompt, maxTokens: 24)])[0]
        let statistics = engine.currentStatistics
        engine.shutdown()
        #expect(first.usage.cachedPromptTokens == 0)
        #expect(second.usage.cachedPromptTokens == (prompt.count - 1) / 16 * 16)
        #expect(statistics.prefixCacheHits == second.usage.cachedPromptTokens)
        #expect(second.tokenIDs == first.tokenIDs)
    }

    @Test(arguments: [true, false])
    func decodeOnlyStepsHoldEveryTokenPastThePrompt(asynchronous: Bool) async throws {
        // One prompt prefilled in one step, then five decode-only steps of one token. (With several
        // requests, how their prompts share steps depends on when each reaches the engine loop.)
        let engine = try Shared.engine(asynchronous: asynchronous)
        let prompt = try Shared.prompt(Shared.topics[0])
        let result = try await engine.generateBatch([
            GenerationRequest(
                id: "d", promptTokens: prompt, maxTokens: 6,
                ignoreEOS: true)
        ])[0]
        // The last step is recorded just after its tokens are delivered.
        for _ in 0..<100 where engine.currentStatistics.steps < 6 { try await Task.sleep(for: .milliseconds(10)) }
        let statistics = engine.currentStatistics
        engine.shutdown()
        #expect(result.tokenIDs.count == 6)
        #expect(statistics.steps == 6)
        #expect(statistics.scheduledTokens == prompt.count + 5)
        #expect(statistics.decodeOnlySteps == 5)
        #expect(statistics.decodeOnlyTokens == 5)
        #expect(statistics.decodeOnlyDeviceSeconds > 0)
    }

    @Test func maxTokensIsExact() async throws {
        let engine = try Shared.engine()
        for maxTokens in [1, 2, 7, 33] {
            let result = try await engine.generateBatch([
                GenerationRequest(
                    id: "m\(maxTokens)", promptTokens: try Shared.prompt("Count: one, two, three,"), maxTokens: maxTokens,
                    ignoreEOS: true)
            ])[0]
            #expect(result.tokenIDs.count == maxTokens)
            #expect(result.usage.completionTokens == maxTokens)
            #expect(result.finishReason == .length)
        }
        engine.shutdown()
    }

    @Test func nothingIsStreamedAfterEndOfGeneration() async throws {
        let (_, tokenizer) = try Shared.loaded.get()
        let engine = try Shared.engine()
        let result = try await engine.generateBatch([
            GenerationRequest(
                id: "eos", promptTokens: try Shared.prompt(Shared.chat("What is 2+2? Answer with one number.")),
                maxTokens: 64)
        ])[0]
        engine.shutdown()
        #expect(result.finishReason == .stop)
        #expect(!result.tokenIDs.contains { tokenizer.endOfGenerationTokens.contains($0) })
        #expect(result.usage.completionTokens == result.tokenIDs.count + 1, "the end token counts but is not streamed")
        #expect(result.text.contains("4"))
    }

    @Test func stopStringSplitAcrossTokensIsCaught() async throws {
        let (_, tokenizer) = try Shared.loaded.get()
        let prompt = try Shared.prompt("The capital of France is")
        let engine = try Shared.engine()
        let free = try await engine.generateBatch([
            GenerationRequest(
                id: "free", promptTokens: prompt, maxTokens: 30,
                ignoreEOS: true)
        ])[0]
        // A stop string made of the end of token 6 and the start of token 7 (both at least 2 characters).
        let pieces = free.tokenIDs.map { tokenizer.decode([$0]) }
        let index = try #require(pieces.indices.dropFirst(5).first { pieces[$0].count >= 2 && pieces[$0 + 1].count >= 2 })
        let stop = String(pieces[index].suffix(1)) + String(pieces[index + 1].prefix(1))
        let expectedText = String(free.text[..<(try #require(free.text.range(of: stop))).lowerBound])

        let stream = try engine.submit(
            GenerationRequest(
                id: "stop", promptTokens: prompt, maxTokens: 30,
                ignoreEOS: true, stopStrings: [stop, "zzzzzz"]))
        var text = ""
        var finish: FinishReason?
        for await event in stream {
            switch event {
            case .output(let output): text += output.text
            case .finished(let reason, _): finish = reason
            }
        }
        engine.shutdown()
        #expect(finish == .stop)
        #expect(text == expectedText)
        #expect(!text.contains(stop))
    }

    @Test func impossibleRequestsAreRejectedAtSubmit() throws {
        let engine = try Shared.engine(kvCacheTokens: 256)
        defer { engine.shutdown() }
        let prompt = try Shared.prompt("Hello")
        #expect(throws: EngineError.self) { try engine.submit(GenerationRequest(id: "a", promptTokens: [], maxTokens: 4)) }
        #expect(throws: EngineError.self) { try engine.submit(GenerationRequest(id: "b", promptTokens: prompt, maxTokens: 0)) }
        #expect(throws: EngineError.self) { try engine.submit(GenerationRequest(id: "c", promptTokens: prompt, maxTokens: 300)) }
        #expect(throws: EngineError.self) {
            try engine.submit(GenerationRequest(id: "d", promptTokens: [1, 999_999], maxTokens: 4))
        }
        #expect(throws: EngineError.self) {
            try engine.submit(GenerationRequest(id: "e", promptTokens: prompt, sampling: .init(temperature: -1), maxTokens: 4))
        }
    }
}
