import ChatTemplate
import Foundation
import JSON
import Testing

@testable import APIRequests
@testable import Server

/// Tool histories as clients send them (OpenAI's shape, read by the request layer) rendered through
/// the model's own template exactly as Jinja2 renders them for transformers: the golden cases of
/// Tests/Fixtures/templates (scripts/fixtures_templates.py) that have tools and tool calls.
@Suite struct ToolTemplateTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/templates")

    @Test(arguments: ["qwen2_5", "qwen3", "llama3_1", "mistral_v3"])
    func toolHistoriesRenderAsJinja2Does(name: String) throws {
        let text = try Data(contentsOf: Self.directory.appendingPathComponent(name + ".json"))
        let fixture = try JSONValue.parse(Array(text))
        var checked = 0
        for testCase in fixture["cases"]?.array ?? [] {
            guard let context = testCase["context"], let expected = testCase["expected"]?.string,
                let messages = context["messages"], context["tools"]?.array?.isEmpty == false,
                messages.serialized.contains("tool_calls")
            else { continue }
            let body: JSONValue = .object([("messages", messages), ("tools", context["tools"] ?? .null)])
            let request = try ChatCompletionRequest(
                body: Array(body.serialized.utf8), limits: RequestLimits(vocabularySize: 10, maxModelLength: 100))
            let tools = try #require(request.tools).tools
            var template = try ChatTemplate(try #require(fixture["template"]?.string))
            template.fixedDate = Date(timeIntervalSince1970: 1_721_999_109)  // the fixtures' 2024-07-26 13:05:09
            var extra: [String: TemplateValue] = ["tools": .array(tools.map { ChatPromptRenderer.templateValue($0.json) })]
            for key in ["enable_thinking", "date_string"] {
                if let value = context[key] { extra[key] = ChatPromptRenderer.templateValue(value) }
            }
            let rendered = try template.render(
                messages: request.messages.map(ChatPromptRenderer.templateMessage),
                addGenerationPrompt: context["add_generation_prompt"] == .bool(true),
                bosToken: context["bos_token"]?.string ?? "", eosToken: context["eos_token"]?.string ?? "", extra: extra)
            #expect(rendered == expected, "\(name) case \(checked)")
            checked += 1
        }
        #expect(checked > 0, "\(name) has a golden case with tools and tool calls")
    }
}
