/// A line editor as a state machine with no I/O: keys go in, the buffer, cursor and the bytes to
/// draw come out. Left/right, Home/End, word moves, Backspace/Delete, Ctrl-K/U/W, and a history
/// walked with Up/Down (the line being typed is kept while walking).
///
/// Drawing assumes each character takes one column and the line fits the terminal's width.
public struct LineEditor: Sendable {
    /// What a key did.
    public enum Action: Equatable, Sendable {
        /// Keep reading keys.
        case editing
        /// Enter: the finished line.
        case submit(String)
        /// Ctrl-C; `wasEmpty` tells whether the line had no text.
        case interrupt(wasEmpty: Bool)
        /// Ctrl-D on an empty line.
        case endOfInput
    }

    /// The text being edited.
    public private(set) var buffer: [Character] = []
    /// Cursor position in `buffer` (0 ... buffer.count).
    public private(set) var cursor = 0
    /// Earlier lines, oldest first.
    public private(set) var history: [String]
    /// The prompt drawn before the text.
    public var prompt: String
    /// The position in `history` while walking it (nil: at the line being typed).
    private var historyIndex: Int?
    /// The line being typed, kept while walking the history.
    private var draft: [Character] = []
    /// Most lines kept in the history.
    public let historyLimit: Int

    public init(prompt: String, history: [String] = [], historyLimit: Int = 1000) {
        self.prompt = prompt
        self.history = history
        self.historyLimit = historyLimit
    }

    /// The buffer as a string.
    public var text: String { String(buffer) }

    /// Starts a new empty line (the history stays).
    public mutating func reset(prompt: String? = nil) {
        if let prompt { self.prompt = prompt }
        buffer = []
        cursor = 0
        historyIndex = nil
        draft = []
    }

    /// Adds a line to the history (not empty, not a repeat of the last one).
    public mutating func remember(_ line: String) {
        guard !line.allSatisfy({ $0 == " " || $0 == "\t" }), history.last != line else { return }
        history.append(line)
        if history.count > historyLimit { history.removeFirst(history.count - historyLimit) }
    }

    /// Applies a key.
    public mutating func handle(_ key: Key) -> Action {
        switch key {
        case .text(let text):
            let characters = Array(text.filter { !$0.isNewline })
            buffer.insert(contentsOf: characters, at: cursor)
            cursor += characters.count
        case .enter:
            let line = text
            remember(line)
            reset()
            return .submit(line)
        case .backspace:
            if cursor > 0 {
                buffer.remove(at: cursor - 1)
                cursor -= 1
            }
        case .delete:
            if cursor < buffer.count { buffer.remove(at: cursor) }
        case .left: cursor = max(0, cursor - 1)
        case .right: cursor = min(buffer.count, cursor + 1)
        case .home: cursor = 0
        case .end: cursor = buffer.count
        case .wordLeft: cursor = wordStart(before: cursor)
        case .wordRight:
            while cursor < buffer.count, buffer[cursor] == " " { cursor += 1 }
            while cursor < buffer.count, buffer[cursor] != " " { cursor += 1 }
        case .up: walkHistory(by: -1)
        case .down: walkHistory(by: 1)
        case .interrupt:
            let wasEmpty = buffer.isEmpty
            reset()
            return .interrupt(wasEmpty: wasEmpty)
        case .endOfInput:
            if buffer.isEmpty { return .endOfInput }
            if cursor < buffer.count { buffer.remove(at: cursor) }
        case .killToEnd: buffer.removeSubrange(cursor...)
        case .killToStart:
            buffer.removeSubrange(..<cursor)
            cursor = 0
        case .deleteWord:
            let start = wordStart(before: cursor)
            buffer.removeSubrange(start..<cursor)
            cursor = start
        case .redraw, .ignored: break
        }
        return .editing
    }

    private func wordStart(before position: Int) -> Int {
        var index = position
        while index > 0, buffer[index - 1] == " " { index -= 1 }
        while index > 0, buffer[index - 1] != " " { index -= 1 }
        return index
    }

    private mutating func walkHistory(by step: Int) {
        guard !history.isEmpty else { return }
        let current = historyIndex ?? history.count
        let next = min(max(current + step, 0), history.count)
        guard next != current else { return }
        if historyIndex == nil { draft = buffer }
        if next == history.count {
            historyIndex = nil
            buffer = draft
        } else {
            historyIndex = next
            buffer = Array(history[next])
        }
        cursor = buffer.count
    }

    /// The bytes that redraw the line: to column 0, the prompt and text, clear the rest, and move
    /// the cursor back to its place.
    public var rendering: String {
        var output = "\r" + prompt + text + "\u{1B}[K"
        let back = buffer.count - cursor
        if back > 0 { output += "\u{1B}[\(back)D" }
        return output
    }
}
