/// An error raised while parsing or rendering a chat template.
///
/// `raise_exception(msg)` inside a template produces `kind == .raised` with `message == msg`, so the
/// caller can show the template author's own text (e.g. "Conversation roles must alternate ...").
public struct TemplateError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The broad category of a template failure.
    public enum Kind: String, Sendable, Equatable {
        /// The template source is malformed (unclosed block, bad expression, unknown tag).
        case syntax
        /// The template called `raise_exception(message)`.
        case raised
        /// An undefined value was used where Jinja2 raises (attribute of undefined, arithmetic).
        case undefined
        /// An operation on values of the wrong type (e.g. `'a' + 1`), or an unsupported feature.
        case type
        /// An operation the sandbox forbids (e.g. `list.append` in the immutable sandbox).
        case security
        /// A resource limit was hit (output size, loop iterations, recursion depth).
        case limit
    }

    /// The category of the failure.
    public let kind: Kind
    /// The message; for `.raised` exactly the text passed to `raise_exception`.
    public let message: String
    /// 1-based line in the template source, when known.
    public let line: Int?
    /// 1-based column in the template source, when known.
    public let column: Int?

    /// Creates an error.
    public init(_ kind: Kind, _ message: String, line: Int? = nil, column: Int? = nil) {
        self.kind = kind
        self.message = message
        self.line = line
        self.column = column
    }

    /// A readable description including the location when known.
    public var description: String {
        if kind == .raised { return message }
        var text = "template \(kind.rawValue) error"
        if let line {
            text += " at line \(line)"
            if let column { text += ", column \(column)" }
        }
        return text + ": " + message
    }

    func located(line: Int, column: Int?) -> TemplateError {
        if self.line != nil { return self }
        return TemplateError(kind, message, line: line, column: column)
    }
}
