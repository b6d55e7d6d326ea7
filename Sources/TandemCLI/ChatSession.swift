import Engine
import Foundation
import Server
import Terminal

/// One `tandem chat` run: reads lines (with the line editor on a terminal, plain lines otherwise),
/// runs the slash commands, streams replies and prints their speed.
final class ChatSession {
    private let engine: Engine
    private let renderer: ChatPromptRenderer
    private var settings: ChatSettings
    private let reader: LineReader?
    private let interrupter: ReplyInterrupter
    private var messages: [ChatMessage] = []
    private var turn = 0
    private let output = FileHandle.standardOutput
    private let decorate = isatty(STDERR_FILENO) != 0

    static let prompt = ">>> "
    static let continuation = "... "

    init(engine: Engine, renderer: ChatPromptRenderer, settings: ChatSettings) {
        self.engine = engine
        self.renderer = renderer
        self.settings = settings
        reader = LineReader()
        interrupter = ReplyInterrupter(engine: engine, exitWhenIdle: reader == nil)
        messages = initialMessages()
    }

    private var interactive: Bool { reader != nil }

    private func initialMessages() -> [ChatMessage] {
        settings.system.map { [ChatMessage(role: "system", content: $0)] } ?? []
    }

    /// What the user gave at the prompt.
    private enum Input {
        case text(String)
        /// Ctrl-C at the prompt; `wasEmpty` when the line had no text.
        case interrupt(wasEmpty: Bool)
        case end
    }

    private func readLine(prompt: String) -> Input {
        guard let reader else { return Swift.readLine().map { .text($0) } ?? .end }
        // A Ctrl-C typed while the previous line was being handled arrived as a signal: it counts
        // as pressed at this empty prompt.
        if interrupter.takeIdleInterrupt() { return .interrupt(wasEmpty: true) }
        switch reader.readLine(prompt: prompt) {
        case .line(let line): return .text(line)
        case .interrupt(let wasEmpty): return .interrupt(wasEmpty: wasEmpty)
        case .endOfInput: return .end
        }
    }

    /// A message: one line; a line ending in `\` continues on the next; `"""` starts a block that
    /// runs to the next `"""`.
    private func readMessage() -> Input {
        let first = readLine(prompt: Self.prompt)
        guard case .text(var line) = first else { return first }
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("\"\"\"") {
            var text = String(trimmed.dropFirst(3))
            if text.hasSuffix("\"\"\"") { return .text(String(text.dropLast(3))) }
            var lines = text.isEmpty ? [] : [text]
            while true {
                switch readLine(prompt: Self.continuation) {
                case .text(let next):
                    if next.trimmingCharacters(in: .whitespaces).hasSuffix("\"\"\"") {
                        text = next.trimmingCharacters(in: .whitespaces)
                        let last = String(text.dropLast(3))
                        if !last.isEmpty { lines.append(last) }
                        return .text(lines.joined(separator: "\n"))
                    }
                    lines.append(next)
                case .interrupt: return .interrupt(wasEmpty: false)
                case .end: return .text(lines.joined(separator: "\n"))
                }
            }
        }
        var lines: [String] = []
        while line.hasSuffix("\\") {
            lines.append(String(line.dropLast()))
            switch readLine(prompt: Self.continuation) {
            case .text(let next): line = next
            case .interrupt: return .interrupt(wasEmpty: false)
            case .end:
                line = ""
            }
        }
        lines.append(line)
        return .text(lines.joined(separator: "\n"))
    }

    /// The chat loop, until /quit, Ctrl-D, end of input or Ctrl-C twice at an empty prompt.
    func run() async throws {
        if interactive {
            note("Chatting with the model. /help lists the commands; Ctrl-C stops a reply; Ctrl-D or /bye exits.")
        }
        var armedExit = false
        loop: while true {
            let input = readMessage()
            switch input {
            case .end: break loop
            case .interrupt(let wasEmpty):
                if wasEmpty && armedExit { break loop }
                armedExit = wasEmpty
                if wasEmpty { note("(Ctrl-C again, Ctrl-D or /bye to exit)") }
                continue loop
            case .text(let line):
                armedExit = false
                let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
                if text.isEmpty { continue loop }
                if text.hasPrefix("/") && !text.contains("\n") {
                    if try command(text) { continue loop }
                    break loop
                }
                try await reply(to: line)
            }
        }
    }

    /// Runs a slash command; false when the chat should end.
    private func command(_ line: String) throws -> Bool {
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true).map(String.init)
        let name = parts[0].lowercased()
        let argument = parts.dropFirst().joined(separator: " ")
        switch name {
        case "/quit", "/exit", "/bye": return false
        case "/help", "/?": showHelp()
        case "/reset", "/clear":
            messages = initialMessages()
            note("(conversation cleared)")
        case "/save":
            guard !argument.isEmpty else { note("usage: /save FILE"); return true }
            do {
                try ChatTranscript(messages).write(to: argument)
                note("saved \(messages.count) messages to \(argument)")
            } catch { note("could not save \(argument): \(error)") }
        case "/load":
            guard !argument.isEmpty else { note("usage: /load FILE"); return true }
            do {
                let transcript = try ChatTranscript.read(from: argument)
                messages = transcript.chatMessages
                if let system = messages.first(where: { $0.role == "system" }) { settings.system = system.content }
                note("loaded \(messages.count) messages from \(argument)")
                for message in messages where message.role != "system" {
                    note("\(message.role == "user" ? "you" : "model"): \(message.content.prefix(200))\(message.content.count > 200 ? "…" : "")")
                }
            } catch { note("could not load \(argument): \(error)") }
        case "/set":
            guard parts.count >= 2 else {
                note(settings.description)
                for (setting, meaning) in ChatSettings.help {
                    note("  /set \(setting.padding(toLength: 22, withPad: " ", startingAt: 0)) \(meaning)")
                }
                return true
            }
            let value = parts.count >= 3 ? parts[2] : ""
            do {
                let before = settings.system
                note(try settings.set(parts[1], value))
                if settings.system != before {
                    messages = initialMessages()
                    note("(conversation cleared for the new system prompt)")
                }
            } catch { note("\(error)") }
        case "/show", "/settings": note(settings.description)
        default: note("unknown command \(name); /help lists the commands")
        }
        return true
    }

    private func showHelp() {
        note(
            """
            Type a message and press Enter. Editing: arrows, Home/End, Ctrl-A/E/K/U/W; Up/Down walk the history.
            Several lines: end a line with \\ to go on, or put the text between two lines of \"\"\".
            Ctrl-C stops a reply (at an empty prompt, twice exits); Ctrl-D exits.
              /set NAME VALUE   change a setting (/set alone lists them)
              /show             the settings
              /save FILE        write the conversation as JSON ({"messages": [...]})
              /load FILE        read a conversation saved with /save (or exported by the chat page)
              /reset            start over
              /bye              exit (also /quit, /exit)
            """)
    }

    private func reply(to text: String) async throws {
        messages.append(ChatMessage(role: "user", content: text))
        let prompt: [Int32]
        do { prompt = try renderer.tokens(for: messages) } catch {
            note("chat template error: \(error)")
            messages.removeLast()
            return
        }
        let budget = min(settings.maxTokens, engine.maxSequenceLength - prompt.count)
        guard budget >= 1 else {
            note("the conversation is too long for the context; /reset starts over")
            messages.removeLast()
            return
        }
        turn += 1
        let id = "chat-\(turn)"
        var request = GenerationRequest(id: id, promptTokens: prompt, sampling: try settings.sampling(), maxTokens: budget)
        if let seed = settings.seed { request.sampling.seed = seed &+ UInt64(turn) }
        let stream: AsyncStream<GenerationEvent>
        do { stream = try engine.submit(request) } catch { throw CLIError("\(error)") }
        interrupter.begin(id)
        let clock = ContinuousClock()
        let started = clock.now
        var firstToken: ContinuousClock.Instant?
        var reply = ""
        var usage: GenerationUsage?
        var reason: FinishReason?
        for await event in stream {
            switch event {
            case .output(let piece):
                if firstToken == nil && !piece.tokenIDs.isEmpty { firstToken = clock.now }
                reply += piece.text
                output.write(Data(piece.text.utf8))
            case .finished(let finish, let counts):
                reason = finish
                usage = counts
            }
        }
        let ended = clock.now
        let stopped = interrupter.end()
        output.write(Data("\n".utf8))
        messages.append(ChatMessage(role: "assistant", content: reply))
        var parts: [String] = []
        if let usage { parts.append("\(usage.completionTokens) tokens") }
        if let firstToken, let tokens = usage?.completionTokens, tokens > 1 {
            let seconds = Self.seconds(ended - firstToken)
            if seconds > 0 { parts.append(String(format: "%.1f tok/s", Double(tokens - 1) / seconds)) }
        }
        if let firstToken { parts.append(String(format: "first token %.0f ms", Self.seconds(firstToken - started) * 1000)) }
        if stopped {
            parts.append("stopped")
        } else if reason == .length {
            parts.append("max_tokens reached")
        }
        note("[" + parts.joined(separator: " · ") + "]", dim: true)
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    /// A line to standard error (dimmed on a terminal when `dim`).
    private func note(_ text: String, dim: Bool = false) {
        standardError(dim && decorate ? "\u{1B}[2m" + text + "\u{1B}[0m" : text)
    }
}
