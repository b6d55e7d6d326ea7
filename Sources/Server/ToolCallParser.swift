import JSON

/// A tool call read from a model's reply.
struct ParsedToolCall: Equatable {
    var name: String
    /// The arguments as compact JSON text (OpenAI's `function.arguments`).
    var arguments: String
}

/// Reads a reply as it streams in and splits it into plain content and tool calls, in the
/// model's `ToolCallFormat`. A state machine over text, tested without I/O.
///
/// Hermes blocks are recognized as they close: content before a block streams at once, except a
/// tail that could be the start of `<tool_call>`, held until the next text decides. In the Llama 3
/// and Mistral formats the whole reply is the call list, so a reply that starts like one (`{` or
/// `[`) is held until it ends. Text that only looks like a call (JSON that does not parse into
/// calls, a block cut off by `max_tokens`) is returned as content, unchanged.
struct ToolCallParser {
    enum Event: Equatable {
        case content(String)
        case call(ParsedToolCall)
    }

    static let open = "<tool_call>"
    static let close = "</tool_call>"

    let format: ToolCallFormat
    private var pending = ""
    /// Whether anything but whitespace has been seen (for the whole-reply formats).
    private var started = false
    /// Whole-reply formats: the reply is being held because it may be a call list.
    private var holding = false
    /// Hermes: a block just closed at the end of the text so far, so a newline that starts the next
    /// text is the separator between blocks.
    private var afterBlock = false
    /// Hermes: UTF-8 bytes at the start of `pending` (an open block) already searched for the close
    /// tag, so a block that stays open is not searched again from its start at every token.
    private var searched = 0

    init(format: ToolCallFormat) { self.format = format }

    /// The events that `text`, the next piece of the reply, completes.
    mutating func feed(_ text: String) -> [Event] {
        pending += text
        switch format {
        case .hermes: return takeHermes(final: false)
        case .llama3, .mistral:
            if !started, let first = pending.first(where: { !$0.isWhitespace }) {
                started = true
                holding = first == (format == .llama3 ? "{" : "[")
            }
            guard started, !holding else { return [] }
            defer { pending = "" }
            return [.content(pending)]
        }
    }

    /// The events of what is left when the reply ends.
    mutating func finish() -> [Event] {
        switch format {
        case .hermes: return takeHermes(final: true)
        case .llama3, .mistral:
            defer { pending = "" }
            guard !pending.isEmpty else { return [] }
            if holding, let calls = Self.calls(inList: pending, format: format) { return calls.map { .call($0) } }
            return [.content(pending)]
        }
    }

    private mutating func takeHermes(final: Bool) -> [Event] {
        var events: [Event] = []
        func emit(_ text: Substring) {
            guard !text.isEmpty else { return }
            if case .content(let previous)? = events.last {
                events[events.count - 1] = .content(previous + text)
            } else {
                events.append(.content(String(text)))
            }
        }
        if afterBlock && !pending.isEmpty {
            if pending.first == "\n" { pending.removeFirst() }
            afterBlock = false
        }
        while let start = openTag() {
            let resume = start.lowerBound == pending.startIndex ? max(searched - Self.close.utf8.count + 1, 0) : 0
            guard let end = Self.closeTag(in: pending, from: max(pending.utf8.distance(from: pending.startIndex, to: start.upperBound), resume))
            else {
                searched = start.lowerBound == pending.startIndex ? pending.utf8.count : 0
                break
            }
            searched = 0
            emit(pending[..<start.lowerBound])
            if let call = Self.call(String(pending[start.upperBound..<end.lowerBound]), format: .hermes) {
                events.append(.call(call))
            } else {
                emit(pending[start.lowerBound..<end.upperBound])
            }
            // The newline models put between blocks belongs to neither.
            var rest = pending[end.upperBound...]
            if rest.first == "\n" { rest = rest.dropFirst() }
            afterBlock = rest.isEmpty && pending.last != "\n"
            pending = String(rest)
        }
        if final {
            emit(pending[...])
            pending = ""
        } else if let start = openTag() {
            // An open block waits for its close.
            emit(pending[..<start.lowerBound])
            if start.lowerBound != pending.startIndex { pending = String(pending[start.lowerBound...]) }
        } else {
            // Hold the longest tail that could begin `<tool_call>`.
            let held = (1..<Self.open.count).reversed().first { pending.hasSuffix(Self.open.prefix($0)) } ?? 0
            let cut = pending.index(pending.endIndex, offsetBy: -held)
            emit(pending[..<cut])
            pending = String(pending[cut...])
        }
        return events
    }

    /// The first `<tool_call>` in `pending`: at its start while an open block is being searched.
    private func openTag() -> Range<String.Index>? {
        guard searched > 0 else { return pending.range(of: Self.open) }
        return pending.startIndex..<pending.utf8.index(pending.startIndex, offsetBy: Self.open.utf8.count)
    }

    /// The first `</tool_call>` in `text` at or after UTF-8 offset `offset` (a byte search: the tag is
    /// ASCII, so a match starts and ends on scalar boundaries).
    private static func closeTag(in text: String, from offset: Int) -> Range<String.Index>? {
        let bytes = text.utf8, tag = Array(close.utf8)
        guard var index = bytes.index(bytes.startIndex, offsetBy: offset, limitedBy: bytes.endIndex) else { return nil }
        while let found = bytes[index...].firstIndex(of: tag[0]) {
            if bytes[found...].starts(with: tag) {
                return found..<bytes.index(found, offsetBy: tag.count)
            }
            index = bytes.index(after: found)
        }
        return nil
    }

    /// One call object's text, `{"name": …, "arguments" or "parameters": …}`; nil if it is not one.
    static func call(_ text: String, format: ToolCallFormat) -> ParsedToolCall? {
        guard let value = try? JSONValue.parse(Array(text.utf8)) else { return nil }
        return call(value)
    }

    private static func call(_ value: JSONValue) -> ParsedToolCall? {
        guard case .object = value, let name = value["name"]?.string else { return nil }
        let arguments: String
        switch value["arguments"] ?? value["parameters"] ?? .object([]) {
        case .string(let text): arguments = text
        case let object: arguments = object.serialized
        }
        return ParsedToolCall(name: name, arguments: arguments)
    }

    /// The calls of a whole reply in the Llama 3 (one object) or Mistral (a list) format.
    static func calls(inList text: String, format: ToolCallFormat) -> [ParsedToolCall]? {
        guard let value = try? JSONValue.parse(Array(text.utf8)) else { return nil }
        let items: [JSONValue]
        switch value {
        case .array(let list): items = list
        case .object: items = [value]
        default: return nil
        }
        let calls = items.compactMap(call)
        return calls.count == items.count && !calls.isEmpty ? calls : nil
    }
}
