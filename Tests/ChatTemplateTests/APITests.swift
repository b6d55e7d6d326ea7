import Foundation
import Testing

@testable import ChatTemplate

@Test func chatConvenienceMatchesTransformersVariables() throws {
    // SmolLM2's own template (from the GGUF), rendered by Jinja2 in the fixture for [system, user] + generation prompt.
    let fixture = try Fixtures.load("smollm2")[0]
    let template = try ChatTemplate(fixture.source)
    let messages: [TemplateValue] = [
        ["role": "system", "content": "You are a helpful assistant."],
        ["role": "user", "content": "Hello!"]
    ]
    let output = try template.render(messages: messages, addGenerationPrompt: true, bosToken: "<|im_start|>", eosToken: "<|im_end|>")
    #expect(output == fixture.cases[0].expected)
    #expect(output == "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n")

    // `tools` and `documents` are defined (as none) like transformers passes them; `extra` overrides.
    let probe = try ChatTemplate("{{ tools is defined }} {{ tools is none }} {{ documents is none }} {{ date_string | default('-') }}")
    #expect(try probe.render(messages: [], addGenerationPrompt: false, bosToken: "", eosToken: "") == "True True True -")
    #expect(
        try probe.render(
            messages: [], addGenerationPrompt: false, bosToken: "", eosToken: "",
            extra: ["tools": [["type": "function"]], "date_string": "1 Jan"]) == "True False True 1 Jan")
}

@Test func jsonValuesKeepOrderAndNumberKinds() throws {
    let value = try TemplateValue(json: #"{"z": 1, "a": [1.0, 2, "é\u00e9\ud83c\udf0d", null, true], "m": {}}"#)
    guard case .dictionary(let d) = value else {
        Issue.record("not a dictionary")
        return
    }
    #expect(d.keys == ["z", "a", "m"])
    #expect(d["a"] == [1.0, 2, "éé🌍", nil, true])
    let rendered = try ChatTemplate("{{ v | tojson }}|{% for k, x in v.items() %}{{ k }}{% endfor %}").render(["v": value])
    #expect(rendered == #"{"z": 1, "a": [1.0, 2, "éé🌍", null, true], "m": {}}|zam"#)
    #expect(throws: TemplateError.self) { try TemplateValue(json: "{\"a\": }") }
    #expect(throws: TemplateError.self) { try TemplateValue(json: String(repeating: "[", count: 10_000)) }
}

@Test func strftimeNowUsesInjectedClock() throws {
    var template = try ChatTemplate("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d') }}")
    template.fixedDate = Fixtures.fixedDate
    template.timeZone = TimeZone(identifier: "UTC") ?? .current
    #expect(try template.render([:]) == "26 Jul 2024|2024-07-26")
}

@Test func templateIsReusableAcrossConcurrentRenders() async throws {
    let template = try ChatTemplate("{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}")
    let results = try await withThrowingTaskGroup(of: String.self) { group in
        for i in 0..<8 {
            group.addTask {
                try template.render(["messages": [["role": "user", "content": .int(i)]]])
            }
        }
        var all: [String] = []
        for try await r in group { all.append(r) }
        return all.sorted()
    }
    #expect(results == (0..<8).map { "user:\($0);" }.sorted())
}
