import ArgumentParser
import Engine
import Foundation
import Server

/// `tandem chat`: an interactive terminal chat with the model's chat template, streamed.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with the model in the terminal (/reset clears the conversation, /quit or Ctrl-D exits)."
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
        let file = try modelOptions.openFile()
        let tokenizer = try modelOptions.loadTokenizer(file)
        let model = try modelOptions.loadModel(file)
        let engine = Engine(
            model: model, tokenizer: tokenizer, configuration: engineOptions.configuration(), cache: try engineOptions.cache(for: model))
        defer { engine.shutdown() }
        let renderer: ChatPromptRenderer
        do {
            renderer = try ChatPromptRenderer(templateSource: file.metadata["tokenizer.chat_template"]?.string, tokenizer: tokenizer)
        } catch {
            throw CLIError("chat template: \(error)")
        }
        let sampling = SamplingParameters(temperature: temperature, topP: topP, seed: seed)
        do { try sampling.validate() } catch { throw CLIError("\(error)") }

        let interactive = isatty(STDIN_FILENO) != 0
        let output = FileHandle.standardOutput
        func initial() -> [ChatMessage] { system.map { [ChatMessage(role: "system", content: $0)] } ?? [] }
        var messages = initial()
        var turn = 0
        if interactive { standardError("Chatting with the model. /reset clears the conversation; /quit or Ctrl-D exits.") }
        while true {
            if interactive { output.write(Data("> ".utf8)) }
            guard let line = readLine() else { break }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text == "/quit" || text == "/exit" { break }
            if text == "/reset" {
                messages = initial()
                if interactive { standardError("(conversation cleared)") }
                continue
            }
            messages.append(ChatMessage(role: "user", content: text))
            let prompt: [Int32]
            do { prompt = try renderer.tokens(for: messages) } catch {
                standardError("chat template error: \(error)")
                messages.removeLast()
                continue
            }
            let budget = min(maxTokens, engine.maxSequenceLength - prompt.count)
            guard budget >= 1 else {
                standardError("the conversation is too long for the context; use /reset")
                messages.removeLast()
                continue
            }
            turn += 1
            var request = GenerationRequest(id: "chat-\(turn)", promptTokens: prompt, sampling: sampling, maxTokens: budget)
            if let seed { request.sampling.seed = seed &+ UInt64(turn) }
            let stream: AsyncStream<GenerationEvent>
            do { stream = try engine.submit(request) } catch { throw CLIError("\(error)") }
            var reply = ""
            for await event in stream {
                if case .output(let piece) = event {
                    reply += piece.text
                    output.write(Data(piece.text.utf8))
                }
            }
            output.write(Data("\n".utf8))
            messages.append(ChatMessage(role: "assistant", content: reply))
        }
    }
}
