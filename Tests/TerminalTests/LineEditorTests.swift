import Testing

@testable import Terminal

/// The line editor and key decoder without a terminal: keys in, buffer, cursor and drawing out.
@Suite struct LineEditorTests {
    /// Feeds raw terminal bytes through the decoder and the editor; returns the actions.
    @discardableResult
    static func type(_ bytes: String, into editor: inout LineEditor) -> [LineEditor.Action] {
        var decoder = KeyDecoder()
        return decoder.feed(Array(bytes.utf8)).map { editor.handle($0) }
    }

    @Test func decodesKeysAndSequences() {
        var decoder = KeyDecoder()
        #expect(decoder.feed(Array("ab\u{1B}[D\u{1B}[C\u{1B}[A\u{1B}[B".utf8)) == [.text("ab"), .left, .right, .up, .down])
        #expect(
            decoder.feed(Array("\u{1B}[H\u{1B}[F\u{1B}OH\u{1B}OF\u{1B}[1~\u{1B}[4~\u{1B}[3~".utf8)) == [
                .home, .end, .home, .end, .home, .end, .delete
            ])
        #expect(
            decoder.feed([0x7F, 0x03, 0x04, 0x0D, 0x01, 0x05, 0x0B, 0x15, 0x17]) == [
                .backspace, .interrupt, .endOfInput, .enter, .home, .end, .killToEnd, .killToStart, .deleteWord
            ])
        #expect(decoder.feed(Array("\u{1B}[1;5D\u{1B}[1;5C".utf8)) == [.wordLeft, .wordRight])
        // A sequence split across reads, and a character whose UTF-8 bytes arrive one at a time.
        #expect(decoder.feed([0x1B]) == [])
        #expect(decoder.feed([UInt8(ascii: "[")]) == [])
        #expect(decoder.feed([UInt8(ascii: "D")]) == [.left])
        let bytes = Array("é€😀".utf8)
        var keys: [Key] = []
        for byte in bytes { keys += decoder.feed([byte]) }
        #expect(keys == [.text("é"), .text("€"), .text("😀")])
        // Unknown sequences are ignored, not typed.
        #expect(decoder.feed(Array("\u{1B}[200~x".utf8)) == [.ignored, .text("x")])
    }

    @Test func editsInTheMiddleOfTheLine() {
        var editor = LineEditor(prompt: "> ")
        Self.type("helo", into: &editor)
        #expect(editor.text == "helo" && editor.cursor == 4)
        Self.type("\u{1B}[D", into: &editor)
        #expect(editor.cursor == 3)
        Self.type("l", into: &editor)
        #expect(editor.text == "hello" && editor.cursor == 4)
        #expect(editor.rendering == "\r> hello\u{1B}[K\u{1B}[1D")
        Self.type("\u{1B}[H", into: &editor)
        #expect(editor.cursor == 0)
        #expect(editor.rendering == "\r> hello\u{1B}[K\u{1B}[5D")
        Self.type("\u{1B}[3~", into: &editor)  // Delete under the cursor
        #expect(editor.text == "ello" && editor.cursor == 0)
        Self.type("\u{1B}[F", into: &editor)
        #expect(editor.cursor == 4)
        #expect(editor.rendering == "\r> ello\u{1B}[K")
        Self.type("\u{7F}\u{7F}", into: &editor)
        #expect(editor.text == "el" && editor.cursor == 2)
        Self.type(" two words", into: &editor)
        Self.type("\u{17}", into: &editor)  // Ctrl-W
        #expect(editor.text == "el two ")
        Self.type("\u{1B}[1;5D", into: &editor)  // Ctrl-Left
        #expect(editor.cursor == 3)
        Self.type("\u{0B}", into: &editor)  // Ctrl-K
        #expect(editor.text == "el ")
        Self.type("\u{1B}[D\u{15}", into: &editor)  // Left, Ctrl-U
        #expect(editor.text == " " && editor.cursor == 0)
        // Backspace at the start and Left at the start change nothing.
        Self.type("\u{7F}\u{1B}[D", into: &editor)
        #expect(editor.text == " " && editor.cursor == 0)
    }

    @Test func enterSubmitsAndHistoryWalksBack() {
        var editor = LineEditor(prompt: "> ")
        #expect(Self.type("first\r", into: &editor) == [.editing, .submit("first")])  // typed text arrives as one key
        #expect(editor.text.isEmpty && editor.cursor == 0)
        Self.type("second\r", into: &editor)
        Self.type("second\r", into: &editor)  // a repeat is remembered once
        Self.type("\r", into: &editor)  // an empty line is not remembered
        #expect(editor.history == ["first", "second"])
        Self.type("draft", into: &editor)
        Self.type("\u{1B}[A", into: &editor)
        #expect(editor.text == "second" && editor.cursor == 6)
        Self.type("\u{1B}[A\u{1B}[A", into: &editor)  // stops at the oldest
        #expect(editor.text == "first")
        Self.type("\u{1B}[B", into: &editor)
        #expect(editor.text == "second")
        Self.type("\u{1B}[B", into: &editor)
        #expect(editor.text == "draft")
        Self.type("\u{1B}[B", into: &editor)
        #expect(editor.text == "draft")
        // An old line recalled and edited is sent as edited.
        Self.type("\u{15}\u{1B}[A\u{1B}[A!\r", into: &editor)
        #expect(editor.history == ["first", "second", "first!"])
    }

    @Test func controlCAndControlD() {
        var editor = LineEditor(prompt: "> ")
        Self.type("some text", into: &editor)
        #expect(Self.type("\u{03}", into: &editor) == [.interrupt(wasEmpty: false)])
        #expect(editor.text.isEmpty)
        #expect(Self.type("\u{03}", into: &editor) == [.interrupt(wasEmpty: true)])
        Self.type("ab\u{1B}[D", into: &editor)
        #expect(Self.type("\u{04}", into: &editor) == [.editing])  // Ctrl-D deletes under the cursor
        #expect(editor.text == "a")
        Self.type("\u{7F}", into: &editor)
        #expect(Self.type("\u{04}", into: &editor) == [.endOfInput])
    }

    @Test func historyIsBounded() {
        var editor = LineEditor(prompt: "", historyLimit: 3)
        for line in ["a", "b", "c", "d"] { editor.remember(line) }
        #expect(editor.history == ["b", "c", "d"])
    }
}
