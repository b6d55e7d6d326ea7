import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Server

/// The endpoints routers call on their workers, served names with aliases, and the metrics the
/// Gateway API Inference Extension reads; on the real model.
extension AllServerTests {
    @Suite struct WorkerEndpointTests {
        /// A prompt longer than one KV block (16 tokens), so that a repeat can hit the prefix cache.
        static let prompt =
            #"{"prompt":"The quick brown fox jumps over the lazy dog, again and again, until the end of the afternoon.","max_tokens":1}"#

        /// `/get_load` in both shapes, each of which one router reads.
        @Test(arguments: LoadReportFormat.allCases)
        func loadReport(_ format: LoadReportFormat) async throws {
            let server = try ServerTestModel.server { $0.loadReportFormat = format }
            try await server.withRouter { client in
                try await client.execute(uri: "/v1/completions", method: .post, body: json(Self.prompt)) { #expect($0.status == .ok) }
                try await client.execute(uri: "/get_load", method: .get) { (response: TestResponse) async throws in
                    #expect(response.status == .ok)
                    let value = try parse(response.body)
                    switch format {
                    case .object:
                        #expect(value["load"]?.integer == 0)
                        #expect(value["num_reqs"]?.integer == 0)
                    case .sglang:
                        let ranks = try #require(value.array)
                        #expect(ranks.count == 1)
                        #expect(ranks.first?["dp_rank"]?.integer == 0)
                        #expect(ranks.first?["num_waiting_reqs"]?.integer == 0)
                        // The finished request's blocks stay cached (in the pool's count) or are free.
                        #expect((ranks.first?["num_tokens"]?.integer ?? -1) >= 0)
                    }
                }
            }
        }

        /// While a request with two choices runs, the load is 2: the server's own count, not the
        /// engine's (which is as of its last step).
        @Test func loadCountsRequestsInFlight() async throws {
            let server = try ServerTestModel.server()
            try await server.withRouter { client in
                async let long: Void = client.execute(
                    uri: "/v1/completions", method: .post,
                    body: json(#"{"prompt":"Once upon a time","max_tokens":400,"ignore_eos":true,"n":2}"#)
                ) { #expect($0.status == .ok) }
                var seen: JSONValue?
                for _ in 0..<1000 {
                    let value = try await client.execute(uri: "/get_load", method: .get) { try parse($0.body) }
                    if value["load"]?.integer == 2 {
                        seen = value
                        break
                    }
                    try await Task.sleep(for: .milliseconds(5))
                }
                let load = try #require(seen)
                #expect((load["num_reqs"]?.integer ?? 0) + (load["num_waiting_reqs"]?.integer ?? 0) == 2)
                #expect((load["num_tokens"]?.integer ?? 0) >= 0)
                try await long
                let after = try await client.execute(uri: "/get_load", method: .get) { try parse($0.body) }
                #expect(after["load"]?.integer == 0)
            }
        }

        @Test func serverAndModelInfo() async throws {
            let server = try ServerTestModel.server { $0.servedModelNames = ["smollm", "small"] }
            let engine = try #require(server.engine)
            try await server.withRouter { client in
                for path in ["/server_info", "/get_server_info"] {
                    try await client.execute(uri: path, method: .get) { (response: TestResponse) async throws in
                        #expect(response.status == .ok)
                        let value = try parse(response.body)
                        #expect(value["served_model_name"] == "smollm")
                        #expect(value["served_model_names"] == ["smollm", "small"])
                        #expect(value["dp_size"]?.integer == 1)
                        #expect(value["max_total_tokens"]?.integer == engine.cacheLayout.capacity)
                        #expect(value["max_running_requests"]?.integer == engine.configuration.maxSequences)
                        #expect(value["page_size"]?.integer == 16)
                    }
                }
                for path in ["/model_info", "/get_model_info"] {
                    try await client.execute(uri: path, method: .get) { (response: TestResponse) async throws in
                        #expect(response.status == .ok)
                        let value = try parse(response.body)
                        #expect(value["is_generation"] == true)
                        #expect(value["max_model_len"]?.integer == engine.maxSequenceLength)
                        #expect(value["vocab_size"]?.integer == 49152)
                    }
                }
            }
        }

        @Test func modelFileInfoNamesTheTransformersClass() {
            #expect(ModelFileInfo(path: "m.gguf", architecture: "llama").transformersClass == "LlamaForCausalLM")
            #expect(ModelFileInfo(path: "m.gguf", architecture: "qwen3moe").transformersClass == "Qwen3MoeForCausalLM")
            #expect(ModelFileInfo(path: "m.gguf", architecture: "gemma3").transformersClass == "Gemma3ForCausalLM")
            #expect(ModelFileInfo(path: "m.gguf", architecture: "mamba").transformersClass == nil)
        }

        /// Every served name is listed and accepted, and answers carry the name asked for.
        @Test func aliases() async throws {
            let server = try ServerTestModel.server { $0.servedModelNames = ["smollm", "small"] }
            try await server.withRouter { client in
                try await client.execute(uri: "/v1/models", method: .get) { (response: TestResponse) async throws in
                    let ids = try parse(response.body)["data"]?.array?.compactMap { $0["id"]?.string }
                    #expect(ids == ["smollm", "small"])
                }
                for name in ["smollm", "small"] {
                    let body = #"{"model":"\#(name)","prompt":"Hi","max_tokens":1}"#
                    try await client.execute(uri: "/v1/completions", method: .post, body: json(body)) { (response: TestResponse) async throws in
                        #expect(response.status == .ok)
                        #expect(try parse(response.body)["model"]?.string == name)
                    }
                }
                try await client.execute(
                    uri: "/v1/completions", method: .post, body: json(#"{"model":"smol","prompt":"Hi","max_tokens":1}"#)
                ) { #expect($0.status == .notFound) }
                try await client.execute(uri: "/metrics", method: .get) { (response: TestResponse) async throws in
                    #expect(String(buffer: response.body).contains(#"vllm:num_requests_running{model_name="smollm"}"#))
                }
            }
        }

        /// After `/flush_cache`, the same prompt finds no cached prefix; before it, it does.
        @Test func flushCacheDropsThePrefixCache() async throws {
            let server = try ServerTestModel.server()
            let engine = try #require(server.engine)
            try await server.withRouter { client in
                func hitsOfOneRequest() async throws -> Int {
                    let before = engine.currentStatistics
                    try await client.execute(uri: "/v1/completions", method: .post, body: json(Self.prompt)) { #expect($0.status == .ok) }
                    // The answer can come before the engine publishes the step's statistics: wait for
                    // the request's prefix-cache query to show.
                    for _ in 0..<1000 where engine.currentStatistics.prefixCacheQueries == before.prefixCacheQueries {
                        try await Task.sleep(for: .milliseconds(1))
                    }
                    return engine.currentStatistics.prefixCacheHits - before.prefixCacheHits
                }
                _ = try await hitsOfOneRequest()
                #expect(try await hitsOfOneRequest() > 0)
                try await client.execute(uri: "/flush_cache", method: .post) { (response: TestResponse) async throws in
                    #expect(response.status == .ok)
                    #expect(try parse(response.body)["success"] == true)
                }
                #expect(try await hitsOfOneRequest() == 0)
                #expect(try await hitsOfOneRequest() > 0)
            }
        }

        @Test func flushCacheNeedsTheAPIKey() async throws {
            let server = try ServerTestModel.server { $0.apiKey = "sekrit" }
            try await server.withRouter { client in
                try await client.execute(uri: "/flush_cache", method: .post) { #expect($0.status == .unauthorized) }
                try await client.execute(uri: "/get_load", method: .get) { #expect($0.status == .unauthorized) }
                try await client.execute(uri: "/flush_cache", method: .post, headers: [.authorization: "Bearer sekrit"]) {
                    #expect($0.status == .ok)
                }
            }
        }

        /// Readiness turns 503 once shutdown begins, so that routers and probes stop sending.
        @Test func healthTurnsUnavailableWhenDraining() async throws {
            let server = try ServerTestModel.server()
            try await server.withRouter { client in
                try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
                server.state.beginDraining()
                try await client.execute(uri: "/health", method: .get) { (response: TestResponse) async throws in
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] == "1")
                }
            }
        }

        /// The older names the inference extension's protocol reads.
        @Test func inferenceExtensionMetrics() async throws {
            let server = try ServerTestModel.server()
            try await server.withRouter { client in
                try await client.execute(uri: "/v1/completions", method: .post, body: json(Self.prompt)) { #expect($0.status == .ok) }
                try await client.execute(uri: "/metrics", method: .get) { (response: TestResponse) async throws in
                    let lines = String(buffer: response.body).split(separator: "\n").map(String.init)
                    func value(_ prefix: String) -> Double? {
                        lines.first { $0.hasPrefix(prefix) }.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
                    }
                    let usage = try #require(value(#"vllm:kv_cache_usage_perc{model_name="smollm"}"#))
                    #expect(value(#"vllm:gpu_cache_usage_perc{model_name="smollm"}"#) == usage)
                    #expect(lines.contains("# TYPE vllm:lora_requests_info gauge"))
                    let lora = try #require(value(#"vllm:lora_requests_info{max_lora="0",running_lora_adapters="",waiting_lora_adapters=""}"#))
                    #expect(abs(lora - Date().timeIntervalSince1970) < 60)
                }
            }
        }

        /// What SGLang's and vLLM's routers add to every request they forward is accepted; the
        /// values that would change the output are refused by name.
        @Test func routerAddedFields() async throws {
            let server = try ServerTestModel.server()
            let added = #""no_stop_trim":false,"ignore_eos":false,"skip_special_tokens":true,"return_hidden_states":false"#
            let chatOnly = #""continue_final_message":false,"separate_reasoning":true,"stream_reasoning":true,"include_reasoning":true"#
            try await server.withRouter { client in
                try await client.execute(
                    uri: "/v1/completions", method: .post, body: json(#"{"prompt":"Hi","max_tokens":1,\#(added)}"#)
                ) { #expect($0.status == .ok) }
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post,
                    body: json(#"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":1,\#(added),\#(chatOnly)}"#)
                ) { #expect($0.status == .ok) }
                for (field, value) in [("no_stop_trim", "true"), ("return_hidden_states", "true"), ("separate_reasoning", "1")] {
                    try await client.execute(
                        uri: "/v1/chat/completions", method: .post,
                        body: json(#"{"messages":[{"role":"user","content":"Hi"}],"\#(field)":\#(value)}"#)
                    ) { (response: TestResponse) async throws in
                        #expect(response.status == .badRequest)
                        #expect(try parse(response.body)["error"]?["param"]?.string == field)
                    }
                }
                // Chat-only switches are unknown to completions.
                try await client.execute(
                    uri: "/v1/completions", method: .post, body: json(#"{"prompt":"Hi","separate_reasoning":true}"#)
                ) { #expect($0.status == .badRequest) }
            }
        }
    }
}
