#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A terminal switched to raw mode (no echo, no line buffering, Ctrl-C a byte rather than a signal;
/// output processing stays on, so "\n" still returns to column 0) until `restore()`.
public final class RawMode {
    private let descriptor: Int32
    private var original: termios
    private var active = false

    /// Raw mode on `descriptor`; nil when it is not a terminal.
    public init?(descriptor: Int32 = STDIN_FILENO) {
        var settings = termios()
        guard isatty(descriptor) != 0, tcgetattr(descriptor, &settings) == 0 else { return nil }
        self.descriptor = descriptor
        original = settings
    }

    /// Enters raw mode.
    public func enter() {
        guard !active else { return }
        var raw = original
        raw.c_iflag &= ~tcflag_t(BRKINT | ICRNL | INPCK | ISTRIP | IXON)
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | IEXTEN | ISIG)
        raw.c_cflag |= tcflag_t(CS8)
        withUnsafeMutableBytes(of: &raw.c_cc) { bytes in
            bytes[Int(VMIN)] = 1
            bytes[Int(VTIME)] = 0
        }
        if tcsetattr(descriptor, TCSADRAIN, &raw) == 0 { active = true }
    }

    /// Back to the settings the terminal had.
    public func restore() {
        guard active else { return }
        _ = tcsetattr(descriptor, TCSADRAIN, &original)
        active = false
    }

    deinit { restore() }
}
