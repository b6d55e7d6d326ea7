import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import Tokenizer

@testable import Server

/// In-process tests (HummingbirdTesting router mode) of every endpoint on the real model.
extension AllServerTests {
    @Suite struct RouterTests {
        /// Greedy output of the engine itself, the reference for the HTTP layer.
        static func engineText(_ server: OpenAIServer, prompt: [Int32], maxTokens: Int, stop: [String] = []) async throws -> GenerationResult {
            let engine = try #require(server.engine)
            let results = try await engine.generateBatch([
                GenerationRequest(
                    id: "reference-\(UUID())", promptTokens: prompt, sampling: .greedy, maxTokens: maxTokens, stopStrings: stop)
            ])
            return try #require(results.first)
        }

        @Test func completionMatchesEngineAndUsage() async throws {
            let server = try ServerTestModel.server()
            let prompt = "The capital of France is"
            let tokens = try ServerTestModel.tokenizer.encode(prompt, addSpecial: true, parseSpecial: true)
            let reference = try await Self.engineText(server, prompt: tokens, maxTokens: 12)
            try await server.withRouter { client in
                let body = #"{"model":"smollm","prompt":"The capital of France is","max_tokens":12,"temperature":0}"#
                try await client.execute(uri: "/v1/completions", method: .post, body: json(body)) { (response: TestResponse) async throws in
                    #expect(response.status == .ok)
                    let value = try parse(response.body)
                    #expect(value["object"] == "text_completion")
                    #expect(value["id"]?.string?.hasPrefix("cmpl-") == true)
                    #expect(value["model"] == "smollm")
                    #expect(value["choices"]?[0]?["text"]?.string == reference.text)
                    #expect(value["choices"]?[0]?["finish_reason"]?.string == reference.finishReason.rawValue)
                    #expect(value["usage"]?["prompt_tokens"]?.integer == tokens.count)
                    #expect(value["usage"]?["completion_tokens"]?.integer == reference.usage.completionTokens)
                    #expect(value["usage"]?["total_tokens"]?.integer == tokens.count + reference.usage.completionTokens)
                }
                // Token-id prompt and a list of one string give the same text.
                let ids = tokens.map(String.init).joined(separator: ",")
                for prompt in ["[\(ids)]", #"["The capital of France is"]"#] {
                    try await client.execute(
                        uri: "/v1/completions", method: .post,
                        body: json(#"{"prompt":\#(prompt),"max_tokens":12,"temperature":0}"#)
                    ) { (response: TestResponse) async throws in
                        #expect(response.status == .ok)
                        #expect(try parse(response.body)["choices"]?[0]?["text"]?.string == reference.text)
                    }
                }
            }
        }

        @Test func chatUsesTheModelsTemplate() async throws {
            let server = try ServerTestModel.server()
            // SmolLM2's template adds its default system prompt; the expected text is written out here.
            let expected =
                "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
                + "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
            let tokens = try ServerTestModel.tokenizer.encode(expected, addSpecial: false, parseSpecial: true)
            let reference = try await Self.engineText(server, prompt: tokens, maxTokens: 16)
            try await server.withRouter { client in
                let body =
                    #"{"messages":[{"role":"user","content":[{"type":"text","text":"What is 2+2?"}]}],"max_completion_tokens":16,"temperature":0}"#
                try await client.execute(uri: "/v1/chat/completions", method: .post, body: json(body)) { (response: TestResponse) async throws in
                    #expect(response.status == .ok)
                    let value = try parse(response.body)
                    #expect(value["object"] == "chat.completion")
                    #expect(value["id"]?.string?.hasPrefix("chatcmpl-") == true)
                    #expect(value["choices"]?[0]?["message"]?["role"] == "assistant")
                    #expect(value["choices"]?[0]?["message"]?["content"]?.string == reference.text)
                    #expect(value["usage"]?["prompt_tokens"]?.integer == tokens.count)
                }
                try await client.execute(
                    uri: "/tokenize", method: .post,
                    body: json(#"{"messages":[{"role":"user","content":"What is 2+2?"}]}"#)
                ) { (response: TestResponse) async throws in
                    let value = try parse(response.body)
                    #expect(value["tokens"]?.array?.compactMap { $0.integer } == tokens.map { Int($0) })
                    #expect(value["count"]?.integer == tokens.count)
                }
            }
        }

        @Test func streamingCompletionAndChat() async throws {
            let server = try ServerTestModel.server()
            let tokens = try ServerTestModel.tokenizer.encode("Once upon a time", addSpecial: true, parseSpecial: true)
            let reference = try await Self.engineText(server, prompt: tokens, maxTokens: 10)
            try await server.withRouter { client in
                let body = #"{"prompt":"Once upon a time","max_tokens":10,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}"#
                try await client.execute(uri: "/v1/completions", method: .post, body: json(body)) { (response: TestResponse) async throws in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "text/event-stream")
                    let events = sseEvents(String(buffer: response.body))
                    #expect(events.last == "[DONE]")
                    let chunks = try events.dropLast().map { try JSONValue.parse(Array($0.utf8)) }
                    let text = chunks.compactMap { $0["choices"]?[0]?["text"]?.string }.joined()
                    #expect(text == reference.text)
                    #expect(chunks.dropLast().last?["choices"]?[0]?["finish_reason"]?.string == "length")
                    let usage = try #require(chunks.last)
                    #expect(usage["choices"]?.array?.isEmpty == true)
                    #expect(usage["usage"]?["completion_tokens"]?.integer == 10)
                    #expect(usage["usage"]?["prompt_tokens"]?.integer == tokens.count)
                }
                let chat =
                    #"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"max_tokens":8,"stream":true,"temperature":0}"#
                try await client.execute(uri: "/v1/chat/completions", method: .post, body: json(chat)) { (response: TestResponse) async throws in
                    let events = sseEvents(String(buffer: response.body))
                    #expect(events.last == "[DONE]")
                    let chunks = try events.dropLast().map { try JSONValue.parse(Array($0.utf8)) }
                    #expect(chunks.first?["object"] == "chat.completion.chunk")
                    #expect(chunks.first?["choices"]?[0]?["delta"]?["role"] == "assistant")
                    #expect(chunks.last?["choices"]?[0]?["finish_reason"]?.string != nil)
                    #expect(chunks.dropLast().allSatisfy { $0["choices"]?[0]?["finish_reason"] == .null })
                }
            }
        }

        @Test func severalChoicesShareThePrompt() async throws {
            let server = try ServerTestModel.server()
            let engine = try #require(server.engine)
            try await server.withRouter { client in
                // A prompt of more than two full blocks, so that the later choices hit the prefix cache.
                let prompt = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 12)
                let hitsBefore = engine.currentStatistics.prefixCacheHits
                let body = #"{"prompt":"\#(prompt)","max_tokens":6,"n":3,"temperature":1.0,"seed":7}"#
                let first = try await client.execute(uri: "/v1/completions", method: .post, body: json(body)) { response in
                    #expect(response.status == .ok)
                    let value = try parse(response.body)
                    let choices = try #require(value["choices"]?.array)
                    #expect(choices.count == 3)
                    #expect(choices.compactMap { $0["index"]?.integer } == [0, 1, 2])
                    #expect(value["usage"]?["completion_tokens"]?.integer == 18)
                    return choices.compactMap { $0["text"]?.string }
                }
                #expect(engine.currentStatistics.prefixCacheHits - hitsBefore >= 2 * 64)
                // Same seed, same choices.
                let second = try await client.execute(uri: "/v1/completions", method: .post, body: json(body)) { response in
                    try parse(response.body)["choices"]?.array?.compactMap { $0["text"]?.string } ?? []
                }
                #expect(first == second)
                #expect(Set(first).count > 1)
            }
        }

        @Test func stopStringsAndEcho() async throws {
            let server = try ServerTestModel.server()
            let tokens = try ServerTestModel.tokenizer.encode("One, two, three,", addSpecial: true, parseSpecial: true)
            let reference = try await Self.engineText(server, prompt: tokens, maxTokens: 16)
            // Stop at the second word of the free-running output.
            let words = reference.text.split(separator: " ")
            try #require(words.count >= 3)
            let stop = String(words[2])
            let cut = try #require(reference.text.range(of: stop))
            let expected = String(reference.text[..<cut.lowerBound])
            try await server.withRouter { client in
                let body =
                    #"{"prompt":"One, two, three,","max_tokens":16,"temperature":0,"stop":[\#(JSONValue.string(stop).serialized)],"echo":true}"#
                try await client.execute(uri: "/v1/completions", method: .post, body: json(body)) { (response: TestResponse) async throws in
                    let choice = try parse(response.body)["choices"]?[0]
                    #expect(choice?["text"]?.string == "One, two, three," + expected)
                    #expect(choice?["finish_reason"] == "stop")
                }
            }
        }

        @Test func logprobs() async throws {
            let server = try ServerTestModel.server()
            try await server.withRouter { client in
                let body = #"{"prompt":"The sun rises in the","max_tokens":5,"temperature":0,"logprobs":3}"#
                try await client.execute(uri: "/v1/completions", method: .post, body: json(body)) { (response: TestResponse) async throws in
                    let choice = try #require(try parse(response.body)["choices"]?[0])
                    let logprobs = try #require(choice["logprobs"])
                    let tokens = try #require(logprobs["tokens"]?.array?.compactMap { $0.string })
                    let values = try #require(logprobs["token_logprobs"]?.array?.compactMap { $0.number })
                    let tops = try #require(logprobs["top_logprobs"]?.array)
                    let offsets = try #require(logprobs["text_offset"]?.array?.compactMap { $0.integer })
                    #expect(tokens.count == 5 && values.count == 5 && tops.count == 5 && offsets.count == 5)
                    #expect(tokens.joined() == choice["text"]?.string)
                    #expect(offsets.first == 0)
                    for (index, top) in tops.enumerated() {
                        guard case .object(let pairs) = top else { Issue.record("top_logprobs entry is not an object"); continue }
                        #expect(pairs.count >= 1 && pairs.count <= 3)
                        let best = pairs.compactMap { $0.1.number }.max() ?? 0
                        // Greedy: the chosen token is the most likely one.
                        #expect(abs(best - values[index]) < 1e-4)
                        #expect(values[index] <= 0)
                        #expect(pairs.compactMap { $0.1.number }.reduce(0) { $0 + exp($1) } <= 1.0001)
                    }
                }
                let chat = #"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"temperature":0,"logprobs":true,"top_logprobs":2}"#
                try await client.execute(uri: "/v1/chat/completions", method: .post, body: json(chat)) { (response: TestResponse) async throws in
                    let choice = try #require(try parse(response.body)["choices"]?[0])
                    let content = try #require(choice["logprobs"]?["content"]?.array)
                    #expect(content.count >= 1)
                    #expect(content.compactMap { $0["token"]?.string }.joined() == choice["message"]?["content"]?.string)
                    for entry in content {
                        #expect(entry["top_logprobs"]?.array?.count == 2)
                        let bytes = entry["bytes"]?.array?.compactMap { $0.integer }.map { UInt8($0) } ?? []
                        #expect(String(decoding: bytes, as: UTF8.self) == entry["token"]?.string)
                    }
                }
            }
        }

        @Test func modelsTokenizeDetokenizeHealth() async throws {
            let server = try ServerTestModel.server()
            let engine = try #require(server.engine)
            let expected = try ServerTestModel.tokenizer.encode("Hello world", addSpecial: true, parseSpecial: true)
            try await server.withRouter { client in
                try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
                try await client.execute(uri: "/v1/models", method: .get) { (response: TestResponse) async throws in
                    let value = try parse(response.body)
                    #expect(value["object"] == "list")
                    #expect(value["data"]?[0]?["id"] == "smollm")
                    #expect(value["data"]?[0]?["max_model_len"]?.integer == engine.maxSequenceLength)
                }
                try await client.execute(uri: "/tokenize", method: .post, body: json(#"{"prompt":"Hello world"}"#)) {
                    (response: TestResponse) async throws in
                    let value = try parse(response.body)
                    #expect(value["tokens"]?.array?.compactMap { $0.integer } == expected.map { Int($0) })
                    #expect(value["max_model_len"]?.integer == engine.maxSequenceLength)
                }
                let ids = expected.map(String.init).joined(separator: ",")
                try await client.execute(uri: "/detokenize", method: .post, body: json(#"{"tokens":[\#(ids)]}"#)) {
                    (response: TestResponse) async throws in
                    #expect(try parse(response.body)["prompt"]?.string == ServerTestModel.tokenizer.decode(expected))
                }
            }
        }

        /// Every client mistake gets its status and an OpenAI error object, and the server keeps serving.
        @Test func errors() async throws {
            let server = try ServerTestModel.server()
            let limit = try #require(server.engine).maxSequenceLength
            let cases: [(String, String, Int)] = [
                ("/v1/completions", "{not json", 400),
                ("/v1/completions", "[1,2]", 400),
                ("/v1/completions", #"{"max_tokens":4}"#, 400),
                ("/v1/completions", #"{"prompt":42}"#, 400),
                ("/v1/completions", #"{"prompt":"x","temperature":-1}"#, 400),
                ("/v1/completions", #"{"prompt":"x","temperature":"hot"}"#, 400),
                ("/v1/completions", #"{"prompt":"x","top_p":0}"#, 400),
                ("/v1/completions", #"{"prompt":"x","top_p":1.5}"#, 400),
                ("/v1/completions", #"{"prompt":"x","top_k":-2}"#, 400),
                ("/v1/completions", #"{"prompt":"x","n":0}"#, 400),
                ("/v1/completions", #"{"prompt":"x","n":1000}"#, 400),
                ("/v1/completions", #"{"prompt":"x","max_tokens":0}"#, 400),
                ("/v1/completions", #"{"prompt":"x","max_tokens":\#(limit)}"#, 400),
                ("/v1/completions", #"{"prompt":"x","logprobs":50}"#, 400),
                ("/v1/completions", #"{"prompt":"x","logprobs":true}"#, 400),
                ("/v1/completions", #"{"prompt":"x","stop":5}"#, 400),
                ("/v1/completions", #"{"prompt":"x","stream":"yes"}"#, 400),
                ("/v1/completions", #"{"prompt":[1,2,99999999]}"#, 400),
                ("/v1/completions", #"{"prompt":[-1]}"#, 400),
                ("/v1/completions", #"{"prompt":[]}"#, 400),
                ("/v1/completions", #"{"prompt":"x","model":"gpt-4"}"#, 404),
                ("/v1/chat/completions", #"{"messages":[]}"#, 400),
                ("/v1/chat/completions", #"{"messages":[{"role":"wizard","content":"x"}]}"#, 400),
                ("/v1/chat/completions", #"{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#, 400),
                ("/v1/chat/completions", #"{"messages":[{"role":"user","content":"x"}],"top_logprobs":2}"#, 400),
                ("/detokenize", #"{"tokens":[1,-5]}"#, 400),
                ("/v1/nothing", "{}", 404)
            ]
            try await server.withRouter { client in
                for (path, body, status) in cases {
                    try await client.execute(uri: path, method: .post, body: json(body)) { (response: TestResponse) async throws in
                        #expect(Int(response.status.code) == status, "\(path) \(body)")
                        let error = try? parse(response.body)["error"]
                        #expect(error?["message"]?.string?.isEmpty == false, "\(path) \(body)")
                        #expect(error?["type"]?.string != nil)
                    }
                }
                let large = "{\"prompt\":\"" + String(repeating: "a", count: 5 << 20) + "\"}"
                try await client.execute(uri: "/v1/completions", method: .post, body: json(large)) { (response: TestResponse) async throws in
                    #expect(response.status == .contentTooLarge)
                    #expect(try parse(response.body)["error"]?["message"] != nil)
                }
                // Still serving.
                try await client.execute(
                    uri: "/v1/completions", method: .post,
                    body: json(#"{"prompt":"Hello","max_tokens":2}"#)
                ) { (response: TestResponse) async throws in
                    #expect(response.status == .ok)
                }
            }
        }

        @Test func chatTemplateErrorIsBadRequest() async throws {
            let (_, tokenizer, _) = try ServerTestModel.loaded.get()
            let engine = try ServerTestModel.engine()
            let template =
                #"{% for m in messages %}{% if m['role'] == 'assistant' and loop.first %}{{ raise_exception('Conversation must start with a user message') }}{% endif %}{{ m['content'] }}{% endfor %}"#
            var configuration = ServerConfiguration()
            configuration.servedModelNames = ["smollm"]
            let server = OpenAIServer(configuration: configuration, model: try ServedModel(engine: engine, chatTemplate: template))
            _ = tokenizer
            try await server.withRouter { client in
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post,
                    body: json(#"{"messages":[{"role":"assistant","content":"x"}]}"#)
                ) { (response: TestResponse) async throws in
                    #expect(response.status == .badRequest)
                    #expect(try parse(response.body)["error"]?["message"]?.string?.contains("Conversation must start with a user message") == true)
                }
            }
        }

        @Test func apiKey() async throws {
            let server = try ServerTestModel.server { $0.apiKey = "sekrit" }
            try await server.withRouter { client in
                let body = json(#"{"prompt":"Hi","max_tokens":1}"#)
                try await client.execute(uri: "/v1/completions", method: .post, body: body) { #expect($0.status == .unauthorized) }
                try await client.execute(uri: "/v1/completions", method: .post, headers: [.authorization: "Bearer wrong"], body: body) {
                    (response: TestResponse) async throws in
                    #expect(response.status == .unauthorized)
                    #expect(try parse(response.body)["error"]?["code"] == "invalid_api_key")
                }
                try await client.execute(uri: "/v1/completions", method: .post, headers: [.authorization: "Bearer sekrit"], body: body) {
                    (response: TestResponse) async throws in
                    #expect(response.status == .ok)
                }
                try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            }
        }

        @Test func metrics() async throws {
            let server = try ServerTestModel.server()
            let engine = try #require(server.engine)
            try await server.withRouter { client in
                try await client.execute(
                    uri: "/v1/completions", method: .post,
                    body: json(#"{"prompt":"Hello there","max_tokens":3,"ignore_eos":true}"#)
                ) { #expect($0.status == .ok) }
                try await client.execute(uri: "/metrics", method: .get) { (response: TestResponse) async throws in
                    #expect(response.status == .ok)
                    let text = String(buffer: response.body)
                    let label = #"model_name="smollm""#
                    let names = [
                        "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                        "vllm:cache_config_info", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
                        "vllm:request_success_total", "vllm:time_to_first_token_seconds_bucket",
                        "vllm:inter_token_latency_seconds_bucket", "vllm:e2e_request_latency_seconds_bucket",
                        "vllm:request_queue_time_seconds_bucket", "vllm:prefix_cache_queries_total",
                        "vllm:prefix_cache_hits_total", "tandem:device_busy_seconds_total",
                        "tandem:device_idle_seconds_total", "tandem:steps_total", "tandem:preemptions_total"
                    ]
                    let lines = text.split(separator: "\n").map(String.init)
                    for name in names {
                        #expect(lines.contains { $0.hasPrefix(name + "{") && $0.contains(label) }, "\(name)")
                    }
                    for (name, type) in [
                        ("vllm:num_requests_running", "gauge"), ("vllm:prompt_tokens_total", "counter"),
                        ("vllm:time_to_first_token_seconds", "histogram"), ("vllm:request_success_total", "counter")
                    ] {
                        #expect(lines.contains("# TYPE \(name) \(type)"), "\(name)")
                    }
                    let statistics = engine.currentStatistics
                    #expect(lines.contains("vllm:prompt_tokens_total{\(label)} \(statistics.promptTokens)"))
                    #expect(
                        lines.contains {
                            $0.hasPrefix("vllm:request_success_total{") && $0.contains(#"finished_reason="length""#) && $0.hasSuffix(" 1")
                        })
                    #expect(lines.contains { $0.hasPrefix("vllm:e2e_request_latency_seconds_count{") && $0.hasSuffix(" 1") })
                    #expect(lines.contains { $0.hasPrefix("vllm:inter_token_latency_seconds_count{") && $0.hasSuffix(" 2") })
                    #expect(lines.contains { $0.hasPrefix("vllm:cache_config_info{") && $0.contains(#"block_size="16""#) })
                }
            }
        }

        /// Speculative decoding's counters under vLLM's names, equal to the engine's statistics;
        /// `"speculative": false` opts a request out.
        @Test func speculativeDecodingMetrics() async throws {
            var speculation = Speculation()
            speculation.tokenCost = 0
            speculation.draftCost = 0
            let server = try ServerTestModel.server(speculation: speculation)
            let engine = try #require(server.engine)
            let prompt = "Repeat exactly: one two three four five six seven eight. one two three four five six seven eight. one two"
            try await server.withRouter { client in
                try await client.execute(
                    uri: "/v1/completions", method: .post,
                    body: json(#"{"prompt":"\#(prompt)","max_tokens":24,"temperature":0,"speculative":false}"#)
                ) { #expect($0.status == .ok) }
                #expect(engine.currentStatistics.verifications == 0, "an opted-out request drafts nothing")
                try await client.execute(
                    uri: "/v1/completions", method: .post, body: json(#"{"prompt":"\#(prompt)","max_tokens":24,"temperature":0}"#)
                ) { #expect($0.status == .ok) }
                try await client.execute(
                    uri: "/v1/completions", method: .post, body: json(#"{"prompt":"x","max_tokens":1,"speculative":"no"}"#)
                ) { #expect($0.status == .badRequest) }
                try await client.execute(uri: "/metrics", method: .get) { (response: TestResponse) async throws in
                    let lines = String(buffer: response.body).split(separator: "\n").map(String.init)
                    let statistics = engine.currentStatistics
                    #expect(statistics.acceptedDraftTokens > 0, "drafts were accepted")
                    let label = #"{model_name="smollm"}"#
                    #expect(lines.contains("vllm:spec_decode_num_drafts_total\(label) \(statistics.verifications)"))
                    #expect(lines.contains("vllm:spec_decode_num_draft_tokens_total\(label) \(statistics.draftedTokens)"))
                    #expect(lines.contains("vllm:spec_decode_num_accepted_tokens_total\(label) \(statistics.acceptedDraftTokens)"))
                    #expect(
                        lines.contains {
                            $0.hasPrefix("vllm:spec_decode_num_accepted_tokens_per_pos_total{") && $0.contains(#"position="0""#)
                                && $0.hasSuffix(" \(statistics.acceptedDraftsPerPosition.first ?? 0)")
                        })
                }
            }
        }
    }
}
