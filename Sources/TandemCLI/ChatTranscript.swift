import Foundation
import Server

/// A conversation as `/save` writes it and `/load` reads it: OpenAI's message list in a JSON
/// object, `{"messages": [{"role": "system" | "user" | "assistant", "content": "..."}]}`. `/load`
/// also takes a bare list of messages, and the chat page's export (its first conversation).
struct ChatTranscript: Codable, Equatable {
    struct Message: Codable, Equatable {
        var role: String
        var content: String
    }

    var messages: [Message]

    init(_ messages: [ChatMessage]) {
        self.messages = messages.map { Message(role: $0.role, content: $0.content) }
    }

    /// The messages for the chat template.
    var chatMessages: [ChatMessage] { messages.map { ChatMessage(role: $0.role, content: $0.content) } }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Reads a saved conversation; messages with other roles (the page's error notes) are left out.
    static func read(from path: String) throws -> ChatTranscript {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let decoder = JSONDecoder()
        var transcript: ChatTranscript
        if let value = try? decoder.decode(ChatTranscript.self, from: data) {
            transcript = value
        } else if let list = try? decoder.decode([Message].self, from: data) {
            transcript = ChatTranscript([])
            transcript.messages = list
        } else if let export = try? decoder.decode(PageExport.self, from: data), let first = export.conversations.first {
            transcript = first
        } else {
            throw CLIError("\(path) holds no conversation (expected {\"messages\": [{\"role\", \"content\"}, ...]})")
        }
        transcript.messages = transcript.messages.filter { ["system", "user", "assistant"].contains($0.role) }
        return transcript
    }

    /// The chat page's export file.
    private struct PageExport: Decodable {
        var conversations: [ChatTranscript]
    }
}
