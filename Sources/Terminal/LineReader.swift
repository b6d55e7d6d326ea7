#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads lines from a terminal with `LineEditor` in raw mode (the terminal is back in its own mode
/// between lines, so Ctrl-C while something else runs is SIGINT as usual). Keys that arrive after
/// Enter in the same read (a pasted block of lines) are kept for the next line.
public final class LineReader {
    /// How reading a line ended.
    public enum Outcome: Equatable, Sendable {
        case line(String)
        /// Ctrl-C; `wasEmpty` tells whether the line had no text.
        case interrupt(wasEmpty: Bool)
        /// Ctrl-D on an empty line, or the input closed.
        case endOfInput
    }

    private let raw: RawMode
    private let input: Int32
    private let output: Int32
    private var decoder = KeyDecoder()
    private var queued: [Key] = []
    /// The editor, whose history grows with every line read.
    public private(set) var editor = LineEditor(prompt: "")

    /// A reader on standard input and output; nil unless both are terminals (the line is drawn on
    /// `output`, which must not be a file or a pipe).
    public init?(input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO) {
        guard isatty(output) != 0, let raw = RawMode(descriptor: input) else { return nil }
        self.raw = raw
        self.input = input
        self.output = output
    }

    /// Reads one line after `prompt`.
    public func readLine(prompt: String) -> Outcome {
        raw.enter()
        defer { raw.restore() }
        editor.reset(prompt: prompt)
        write(editor.rendering)
        while true {
            if queued.isEmpty {
                var bytes = [UInt8](repeating: 0, count: 256)
                let count = bytes.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 {
                    write("\r\n")
                    return .endOfInput
                }
                queued = decoder.feed(bytes[0..<count])
                continue
            }
            let key = queued.removeFirst()
            let shown = editor.text
            switch editor.handle(key) {
            case .editing:
                write(editor.rendering)
            case .submit(let line):
                write("\r" + prompt + line + "\u{1B}[K\r\n")
                return .line(line)
            case .interrupt(let wasEmpty):
                write("\r" + prompt + shown + "^C\u{1B}[K\r\n")
                queued.removeAll()
                return .interrupt(wasEmpty: wasEmpty)
            case .endOfInput:
                write("\r\n")
                return .endOfInput
            }
        }
    }

    private func write(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { systemWrite(output, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }
}

/// The C library's `write` (the method of the same name hides it inside `LineReader`).
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}
