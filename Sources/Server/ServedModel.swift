import ChatTemplate
import Engine
import Tokenizer

/// A loaded model behind the server: the engine, its tokenizer and chat prompt renderer.
public struct ServedModel: Sendable {
    public let engine: Engine
    /// The chat prompt renderer, or why the model's template could not be used (chat requests then
    /// fail with that error; completions still work).
    public let chat: Result<ChatPromptRenderer, TemplateError>
    /// Whether the server shuts the engine down when it stops.
    public let ownsEngine: Bool
    /// The file the model came from, for `/model_info` and `/server_info` (nil: not from a file).
    public var file: ModelFileInfo?

    public var tokenizer: Tokenizer { engine.tokenizer }

    /// - Parameter chatTemplate: the model's `tokenizer.chat_template` (nil: ChatML).
    /// A template that does not parse is kept as `chat`'s failure, never a load error.
    public init(engine: Engine, chatTemplate: String?, ownsEngine: Bool = true) {
        self.engine = engine
        do {
            chat = .success(try ChatPromptRenderer(templateSource: chatTemplate, tokenizer: engine.tokenizer))
        } catch let error as TemplateError {
            chat = .failure(error)
        } catch {
            chat = .failure(TemplateError(.syntax, "\(error)"))
        }
        self.ownsEngine = ownsEngine
    }

    /// What a request is checked against.
    public var limits: RequestLimits {
        RequestLimits(vocabularySize: tokenizer.vocabularySize, maxModelLength: engine.maxSequenceLength)
    }
}

/// What the worker endpoints report about the model file.
public struct ModelFileInfo: Sendable {
    /// The GGUF file's path.
    public var path: String
    /// Its `general.architecture` (`llama`, `qwen3`, `gemma3`, ...).
    public var architecture: String

    public init(path: String, architecture: String) {
        self.path = path
        self.architecture = architecture
    }

    /// The Hugging Face transformers class of the architecture (what `config.json`'s
    /// `architectures` names, and what routers expect in `/model_info`).
    public var transformersClass: String? {
        let classes = [
            "llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
            "qwen3moe": "Qwen3MoeForCausalLM", "gemma2": "Gemma2ForCausalLM", "gemma3": "Gemma3ForCausalLM",
            "olmoe": "OlmoeForCausalLM", "phi3": "Phi3ForCausalLM"
        ]
        return classes[architecture]
    }
}
