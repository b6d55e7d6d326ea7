import ChatTemplate
import Foundation
import Testing
import Tokenizer

@testable import Server

/// A model file without `tokenizer.chat_template` gets the turn format its vocabulary names. The
/// Gemma and Llama 3 fallbacks render plain conversations exactly as those families' own templates
/// do under Jinja2 (the golden cases of `Tests/Fixtures/templates` whose messages are plain text).
@Suite struct FallbackTemplateTests {
    @Test(arguments: [("gemma3", ChatPromptRenderer.gemma), ("llama3", ChatPromptRenderer.llama3)])
    func fallbackRendersPlainConversationsAsTheFamilysTemplate(name: String, fallback: String) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/templates/\(name).json")
        guard case .dictionary(let fixture) = try TemplateValue(json: String(contentsOf: url, encoding: .utf8)),
            case .array(let cases)? = fixture["cases"]
        else {
            Issue.record("bad fixture \(name)")
            return
        }
        let template = try ChatTemplate(fallback)
        var checked = 0
        for testCase in cases {
            guard case .dictionary(let entry) = testCase, case .dictionary(let context)? = entry["context"],
                case .string(let expected)? = entry["expected"], case .array(let messages)? = context["messages"],
                Self.isAbsent(context["tools"]), messages.allSatisfy(Self.isPlain)
            else { continue }
            var values: [String: TemplateValue] = [:]
            for (key, value) in context.entries { values[key] = value }
            #expect(try template.render(values) == expected, "\(name) case \(checked)")
            checked += 1
        }
        #expect(checked >= 3, "\(name): \(checked) plain cases")
    }

    /// A vocabulary with Gemma's turn tokens gets Gemma's turns, one with Llama 3's headers Llama 3's,
    /// others ChatML (a Gemma file without a template used to get ChatML, whose markers it reads as
    /// plain text).
    @Test func theFallbackFollowsTheVocabulary() throws {
        func vocabulary(_ special: [String]) throws -> Tokenizer {
            let tokens = ["<unk>", "<s>", "</s>"] + special + (0..<20).map { "▁t\($0)" }
            var types = [TokenType](repeating: .normal, count: tokens.count)
            for index in 0..<(3 + special.count) { types[index] = index == 0 ? .unknown : .control }
            return try Tokenizer(
                vocabulary: TokenizerVocabulary(
                    model: .llama, tokens: tokens, tokenTypes: types, scores: [Float](repeating: 0, count: tokens.count),
                    bosTokenId: 1, eosTokenId: 2, unknownTokenId: 0))
        }
        #expect(ChatPromptRenderer.fallbackTemplate(for: try vocabulary(["<start_of_turn>", "<end_of_turn>"])) == ChatPromptRenderer.gemma)
        #expect(
            ChatPromptRenderer.fallbackTemplate(for: try vocabulary(["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]))
                == ChatPromptRenderer.llama3)
        #expect(ChatPromptRenderer.fallbackTemplate(for: try vocabulary(["<|im_start|>", "<|im_end|>"])) == ChatPromptRenderer.chatML)
        let gemma = try ChatPromptRenderer(templateSource: nil, tokenizer: try vocabulary(["<start_of_turn>", "<end_of_turn>"]))
        #expect(try gemma.render([ChatMessage(role: "user", content: "Hi")]) == "<s><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")
    }

    private static func isAbsent(_ value: TemplateValue?) -> Bool {
        guard let value else { return true }
        if case .none = value { return true }
        return false
    }

    /// A message with a role the fallbacks know and text content.
    private static func isPlain(_ message: TemplateValue) -> Bool {
        guard case .dictionary(let d) = message, case .string(let role)? = d["role"], case .string? = d["content"] else { return false }
        return ["system", "user", "assistant"].contains(role) && d.entries.count == 2
    }
}
