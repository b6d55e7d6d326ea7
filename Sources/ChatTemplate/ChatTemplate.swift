import Foundation

/// A compiled chat template: a Jinja2-subset interpreter with HF transformers' chat-template semantics
/// (`trim_blocks`, `lstrip_blocks`, immutable sandbox, `raise_exception`, `strftime_now`, `tojson`
/// with `ensure_ascii=False`).
///
/// Templates come from model files and are untrusted: parsing and rendering never crash, and
/// `Limits` bound output size, loop iterations and recursion.
public struct ChatTemplate: Sendable {
    /// Resource limits for hostile templates.
    public struct Limits: Sendable {
        /// Largest output (and any intermediate string) in UTF-8 bytes.
        public var maxOutputBytes: Int = 8 << 20
        /// Budget of loop iterations, macro calls and per-element filter work in one render.
        public var maxSteps: Int = 1_000_000
        /// Deepest macro recursion.
        public var maxCallDepth: Int = 64
        /// Deepest syntactic nesting (blocks and expressions, each link of a chain such as `a + b + c`,
        /// `x.a.b` or `v | f | g` counting as one level). Rendering allows four times this much
        /// nesting of statements, expressions and macro bodies together, and lists and dicts may nest
        /// this deep plus 56 levels.
        public var maxNestingDepth: Int = 200
        /// Budget of work in one render: bytes of strings built, copied or scanned, plus 16 per list
        /// item, summed over all operations (e.g. string concatenation in a loop), so that a render
        /// stays bounded in time even when each intermediate value is within `maxOutputBytes`.
        public var maxWorkBytes: Int = 512 << 20
        /// Creates the default limits.
        public init() {}
    }

    /// The template source as given.
    public let source: String
    /// The limits applied to rendering.
    public var limits: Limits
    /// Clock for `strftime_now`; `nil` means the current time.
    public var fixedDate: Date?
    /// Time zone for `strftime_now` (Python's `datetime.now()` is local time).
    public var timeZone: TimeZone = .current
    private let nodes: [Node]

    /// Parses `source` once. Throws `TemplateError` (kind `.syntax`, with line/column) on malformed templates.
    public init(_ source: String, limits: Limits = Limits()) throws {
        self.source = source
        self.limits = limits
        var lexer = Lexer(source: source)
        let tokens = try lexer.tokenize()
        var parser = Parser(tokens: tokens, maxDepth: limits.maxNestingDepth)
        nodes = try parser.parseTemplate()
    }

    /// Renders with the given variables.
    public func render(_ context: [String: TemplateValue]) throws -> String {
        let renderer = Renderer(limits: limits, now: fixedDate ?? Date(), timeZone: timeZone)
        let globals = Scope(parent: nil)
        globals.variables = renderer.makeGlobals()
        let root = Scope(parent: globals)
        defer { renderer.releaseObjects(root) }
        do {
            for (key, value) in context {
                try renderer.checkContextDepth(value)
                root.variables[key] = Value(value)
            }
            return try renderer.render(nodes, context: root)
        } catch let error as TemplateError {
            throw error.located(line: renderer.currentLine, column: nil)
        }
    }

    /// Renders a chat the way transformers' `apply_chat_template` does: `messages`, `tools` and
    /// `documents` (`none` unless given in `extra`), `add_generation_prompt`, `bos_token`, `eos_token`,
    /// plus `extra` variables (e.g. `tools`, `date_string`, `enable_thinking`).
    public func render(
        messages: [TemplateValue], addGenerationPrompt: Bool, bosToken: String, eosToken: String,
        extra: [String: TemplateValue] = [:]
    ) throws -> String {
        var context: [String: TemplateValue] = [
            "messages": .array(messages),
            "tools": .none,
            "documents": .none,
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken)
        ]
        for (key, value) in extra { context[key] = value }
        return try render(context)
    }
}
