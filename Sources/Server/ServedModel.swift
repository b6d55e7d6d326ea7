import Engine
import Tokenizer

/// A loaded model behind the server: the engine, its tokenizer and chat prompt renderer.
public struct ServedModel: Sendable {
    public let engine: Engine
    public let chat: ChatPromptRenderer
    /// Whether the server shuts the engine down when it stops.
    public let ownsEngine: Bool

    public var tokenizer: Tokenizer { engine.tokenizer }

    /// - Parameter chatTemplate: the model's `tokenizer.chat_template` (nil: ChatML).
    /// - Throws: `TemplateError` when the template does not parse.
    public init(engine: Engine, chatTemplate: String?, ownsEngine: Bool = true) throws {
        self.engine = engine
        self.chat = try ChatPromptRenderer(templateSource: chatTemplate, tokenizer: engine.tokenizer)
        self.ownsEngine = ownsEngine
    }
}
