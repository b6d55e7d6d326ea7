/// A key press as the line editor sees it.
public enum Key: Equatable, Sendable {
    /// Printable text (one character, or several from a paste).
    case text(String)
    case enter
    case backspace
    case delete
    case left
    case right
    case home
    case end
    case up
    case down
    /// Ctrl-C.
    case interrupt
    /// Ctrl-D.
    case endOfInput
    /// Ctrl-K: delete to the end of the line.
    case killToEnd
    /// Ctrl-U: delete to the start of the line.
    case killToStart
    /// Ctrl-W: delete the word before the cursor.
    case deleteWord
    /// Ctrl-L: redraw.
    case redraw
    /// Ctrl-Left / Alt-B.
    case wordLeft
    /// Ctrl-Right / Alt-F.
    case wordRight
    /// A sequence the editor does not use.
    case ignored
}
