import Testing

@testable import APIRequests

private let limits = RequestLimits(vocabularySize: 1000, maxModelLength: 512)

private func completion(_ fields: String) throws(APIError) -> CompletionRequest {
    try CompletionRequest(body: Array("{\"prompt\":\"Hi\"\(fields.isEmpty ? "" : ",")\(fields)}".utf8), limits: limits)
}

private func chat(_ fields: String) throws(APIError) -> ChatCompletionRequest {
    try ChatCompletionRequest(
        body: Array("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]\(fields.isEmpty ? "" : ",")\(fields)}".utf8),
        limits: limits)
}

/// The field a rejected request names (nil when it was accepted).
private func rejected(_ make: () throws -> Void) -> String? {
    do {
        try make()
        return nil
    } catch let error as APIError {
        #expect(error.status.code == 400, "\(error)")
        return error.param ?? "(none)"
    } catch {
        return "unexpected \(error)"
    }
}

@Suite struct ValidationTests {
    @Test(
        arguments: [
            // (fields, the field named, or nil when valid)
            (#""max_tokens":1"#, nil), (#""max_tokens":512"#, nil), (#""max_tokens":0"#, "max_tokens"), (#""max_tokens":513"#, "max_tokens"),
            (#""max_tokens":9223372036854775807"#, "max_tokens"), (#""max_tokens":-9223372036854775808"#, "max_tokens"),
            (#""max_tokens":1e308"#, "max_tokens"), (#""max_tokens":"5""#, "max_tokens"), (#""max_tokens":2.5"#, "max_tokens"),
            (#""max_tokens":4.0"#, nil), (#""temperature":0"#, nil), (#""temperature":100"#, nil), (#""temperature":-0.001"#, "temperature"),
            (#""temperature":100.5"#, "temperature"), (#""temperature":1e308"#, "temperature"), (#""temperature":true"#, "temperature"),
            (#""top_p":1e-9"#, nil), (#""top_p":0"#, "top_p"), (#""top_p":1.0000001"#, "top_p"), (#""top_k":-1"#, nil),
            (#""top_k":9223372036854775807"#, nil), (#""top_k":-2"#, "top_k"), (#""top_k":-9223372036854775808"#, "top_k"),
            (#""min_p":1"#, nil), (#""min_p":-1e-9"#, "min_p"), (#""presence_penalty":-2"#, nil), (#""presence_penalty":2.01"#, "presence_penalty"),
            (#""frequency_penalty":-2.5"#, "frequency_penalty"), (#""repetition_penalty":0.01"#, nil), (#""repetition_penalty":100"#, nil),
            (#""repetition_penalty":1e-40"#, "repetition_penalty"), (#""repetition_penalty":0"#, "repetition_penalty"),
            (#""seed":-9223372036854775808"#, nil), (#""seed":9223372036854775807"#, nil), (#""seed":9223372036854775808"#, "seed"),
            (#""n":16"#, nil), (#""n":17"#, "n"), (#""n":0"#, "n"), (#""stop":["a","b"]"#, nil), (#""stop":[1]"#, "stop"),
            (#""stop":{}"#, "stop"), (#""logprobs":20"#, nil), (#""logprobs":21"#, "logprobs"), (#""logprobs":true"#, "logprobs"),
            (#""logit_bias":{"999":-100,"0":100}"#, nil), (#""logit_bias":{"1000":1}"#, "logit_bias"), (#""logit_bias":{"-1":1}"#, "logit_bias"),
            (#""logit_bias":{"1":100.5}"#, "logit_bias"), (#""logit_bias":{"a":1}"#, "logit_bias"), (#""logit_bias":[1]"#, "logit_bias"),
            (#""stop_token_ids":[0,999]"#, nil), (#""stop_token_ids":[1000]"#, "stop_token_ids"), (#""stream":1"#, "stream"),
            (#""stream_options":{"include_usage":true}"#, "stream_options"), (#""stream":true,"stream_options":{"include_usage":true}"#, nil),
            (#""stream":true,"stream_options":{"x":1}"#, "stream_options.x"), (#""echo":true"#, nil), (#""suffix":"x""#, "suffix"),
            (#""best_of":2"#, "best_of"), (#""best_of":1"#, nil), (#""user":"me","store":true,"metadata":{"a":"b"}"#, nil),
            (#""metadata":{"a":1}"#, "metadata"), (#""response_format":{"type":"json_object"}"#, nil),
            (#""response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"integer"}}}"#, nil),
            (#""response_format":{"type":"json_schema","json_schema":{"schema":{"not":{}}}}"#, "response_format"),
            (#""response_format":{"type":"json_schema"}"#, "response_format"), (#""response_format":{"type":"xml"}"#, "response_format"),
            (#""guided_regex":"a+""#, nil), (#""guided_regex":"(a""#, "guided_regex"), (#""guided_choice":["a","b"]"#, nil),
            (#""guided_choice":[1]"#, "guided_choice"), (#""guided_json":"{\"type\":\"string\"}""#, nil), (#""guided_json":"{""#, "guided_json"),
            (#""guided_grammar":"root ::= \"a\"""#, nil), (#""grammar":"root ::= root \"a\"""#, "grammar"),
            (#""structured_outputs":{"regex":"[0-9]+"}"#, nil), (#""structured_outputs":{"xml":1}"#, "structured_outputs.xml"),
            (#""json_schema":{"type":"boolean"}"#, nil), (#""guided_regex":"a","json_schema":{}"#, "json_schema"), (#""tools":[{}]"#, "tools"),
            (#""unknown_field":1"#, "unknown_field"),
            (#""model":5"#, "model"), (#""ignore_eos":"yes""#, "ignore_eos"), (#""min_tokens":0"#, nil), (#""min_tokens":1"#, "min_tokens")
        ] as [(String, String?)])
    func completionFields(fields: String, named: String?) {
        #expect(rejected { _ = try completion(fields) } == named, "\(fields)")
    }

    @Test(
        arguments: [
            (#""max_completion_tokens":512"#, nil), (#""max_completion_tokens":513"#, "max_completion_tokens"),
            (#""logprobs":true,"top_logprobs":20"#, nil), (#""top_logprobs":2"#, "top_logprobs"), (#""logprobs":3"#, "logprobs"),
            (#""echo":true"#, "echo"), (#""add_generation_prompt":false"#, nil), (#""continue_final_message":true"#, "continue_final_message"),
            (#""chat_template_kwargs":{"enable_thinking":false}"#, nil), (#""chat_template_kwargs":{"messages":[]}"#, "chat_template_kwargs"),
            (#""chat_template_kwargs":[]"#, "chat_template_kwargs"), (#""modalities":["text"]"#, nil), (#""modalities":["audio"]"#, "modalities"),
            (#""tool_choice":"auto""#, nil), (#""tool_choice":{"type":"function"}"#, "tool_choice"),
            (#""tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]"#, nil),
            (#""tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required""#, nil),
            (#""tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"}}"#, nil),
            (#""tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}"#, "tool_choice"),
            (#""tool_choice":"required""#, "tool_choice"), (#""tools":[{"type":"function","function":{"name":"a.b"}}]"#, "tools"),
            (#""tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]"#, "tools"),
            (#""tools":[{"type":"function","function":{"name":"f","parameters":[]}}]"#, "tools"),
            (
                #""tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required","response_format":{"type":"json_object"}"#,
                "tool_choice"
            ),
            (#""tools":[{"type":"function","function":{"name":"f"}}],"response_format":{"type":"json_object"}"#, nil),
            (#""functions":[{"name":"f"}]"#, "functions"), (#""parallel_tool_calls":"yes""#, "parallel_tool_calls"),
            (#""reasoning_effort":"low""#, "reasoning_effort")
        ] as [(String, String?)])
    func chatFields(fields: String, named: String?) {
        #expect(rejected { _ = try chat(fields) } == named, "\(fields)")
    }

    @Test func promptsAndMessages() throws {
        #expect(try CompletionRequest(body: Array(#"{"prompt":[1,2,3]}"#.utf8), limits: limits).prompt == .tokens([1, 2, 3]))
        #expect(try CompletionRequest(body: Array(#"{"prompt":[[4]]}"#.utf8), limits: limits).prompt == .tokens([4]))
        #expect(try CompletionRequest(body: Array(#"{"prompt":["x"]}"#.utf8), limits: limits).prompt == .text("x"))
        for body in [#"{"prompt":[1000]}"#, #"{"prompt":[-1]}"#, #"{"prompt":["a","b"]}"#, #"{"prompt":{}}"#, #"{}"#, #"[]"#, "{"] {
            #expect(rejected { _ = try CompletionRequest(body: Array(body.utf8), limits: limits) } != nil, "\(body)")
        }
        let messages = try ChatCompletionRequest(
            body: Array(
                #"{"messages":[{"role":"developer","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"user","content":null}]}"#
                    .utf8),
            limits: limits
        ).messages
        #expect(messages == [ChatMessage(role: "system", content: "a\nb"), ChatMessage(role: "user", content: "")])
        let history = try ChatCompletionRequest(
            body: Array(
                #"{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"id":"c2","function":{"name":"g","arguments":{"b":2}}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}]}"#
                    .utf8),
            limits: limits
        ).messages
        #expect(
            history == [
                ChatMessage(
                    role: "assistant", content: "",
                    toolCalls: [.init(id: "c1", name: "f", arguments: #"{"a":1}"#), .init(id: "c2", name: "g", arguments: #"{"b":2}"#)]),
                ChatMessage(role: "tool", content: "ok", toolCallID: "c1")
            ])
        for body in [
            #"{"messages":[]}"#, #"{"messages":[{"role":"tool","content":"x"}]}"#, #"{"messages":[{"content":"x"}]}"#,
            #"{"messages":[{"role":"assistant","content":"x","tool_calls":[{}]}]}"#, #"{"messages":"x"}"#
        ] {
            #expect(rejected { _ = try ChatCompletionRequest(body: Array(body.utf8), limits: limits) } != nil, "\(body)")
        }
    }

    @Test func tokenizeAndDetokenize() throws {
        #expect(rejected { _ = try DetokenizeRequest(body: Array(#"{"tokens":[0,999]}"#.utf8), limits: limits) } == nil)
        #expect(rejected { _ = try DetokenizeRequest(body: Array(#"{"tokens":[1000]}"#.utf8), limits: limits) } == "tokens")
        #expect(rejected { _ = try DetokenizeRequest(body: Array(#"{"tokens":[1],"x":1}"#.utf8), limits: limits) } == "x")
        #expect(rejected { _ = try TokenizeRequest(body: Array(#"{"prompt":"a","add_special_tokens":false}"#.utf8), limits: limits) } == nil)
        #expect(rejected { _ = try TokenizeRequest(body: Array(#"{"prompt":5}"#.utf8), limits: limits) } == "prompt")
    }
}
