import ArgumentParser
import Engine
import Foundation
import Server

/// `tandem chat`: an interactive terminal chat with the model's chat template, streamed.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with the model in the terminal (/help lists the commands; Ctrl-C stops a reply; Ctrl-D exits).",
        discussion: """
            On a terminal, lines are edited with the arrow keys (Up/Down: history); end a line with \\ or put \
            text between two \"\"\" lines for several lines. /set changes sampling settings, /save and /load keep \
            a conversation as JSON. Without a terminal, each line of standard input is a message.
            """
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engineOptions: EngineOptions

    @Option(help: "A system prompt.")
    var system: String?

    @Option(help: "Maximum tokens per reply.")
    var maxTokens = 512

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0.7

    @Option(help: "Nucleus sampling mass (1: off).")
    var topP: Float = 0.9

    @Option(help: "Random seed.")
    var seed: UInt64?

    func run() async throws {
        guard maxTokens >= 1 else { throw CLIError("--max-tokens must be >= 1") }
        var settings = ChatSettings()
        settings.maxTokens = maxTokens
        settings.temperature = temperature
        settings.topP = topP
        settings.seed = seed
        settings.system = system
        do { _ = try settings.sampling() } catch { throw CLIError("\(error)") }
        let file = try modelOptions.openFile()
        let tokenizer = try modelOptions.loadTokenizer(file)
        let model = try modelOptions.loadModel(file)
        let engine = Engine(
            model: model, tokenizer: tokenizer, configuration: try engineOptions.configuration(for: model, path: try modelOptions.resolvedPath()),
            cache: try engineOptions.cache(for: model)
        )
        defer { engine.shutdown() }
        let renderer: ChatPromptRenderer
        do {
            renderer = try ChatPromptRenderer(templateSource: file.metadata["tokenizer.chat_template"]?.string, tokenizer: tokenizer)
        } catch {
            throw CLIError("chat template: \(error)")
        }
        try await ChatSession(engine: engine, renderer: renderer, settings: settings).run()
    }
}
