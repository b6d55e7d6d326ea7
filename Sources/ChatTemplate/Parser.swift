/// Recursive-descent parser producing `Node`s from tokens, with Jinja2's operator precedence.
struct Parser {
    private let tokens: [Token]
    private var index = 0
    private var depth = 0
    private let maxDepth: Int

    init(tokens: [Token], maxDepth: Int) {
        self.tokens = tokens
        self.maxDepth = maxDepth
    }

    private var current: Token { tokens[min(index, tokens.count - 1)] }

    private func error(_ message: String, _ token: Token? = nil) -> TemplateError {
        let t = token ?? current
        return TemplateError(.syntax, message, line: t.line, column: t.column)
    }

    private mutating func advance() -> Token {
        let t = current
        if index < tokens.count - 1 { index += 1 }
        return t
    }

    private func isOp(_ op: String) -> Bool {
        if case .op(let o) = current.kind { return o == op }
        return false
    }

    private func isName(_ name: String) -> Bool {
        if case .name(let n) = current.kind { return n == name }
        return false
    }

    private func peekIsName(_ name: String, offset: Int) -> Bool {
        let i = index + offset
        guard i < tokens.count, case .name(let n) = tokens[i].kind else { return false }
        return n == name
    }

    private mutating func expectOp(_ op: String) throws {
        guard isOp(op) else { throw error("expected '\(op)', got \(describe(current))") }
        _ = advance()
    }

    private mutating func expectName() throws -> String {
        guard case .name(let n) = current.kind else { throw error("expected a name, got \(describe(current))") }
        _ = advance()
        return n
    }

    private mutating func expectBlockEnd() throws {
        guard case .blockEnd = current.kind else { throw error("expected end of block tag, got \(describe(current))") }
        _ = advance()
    }

    private func describe(_ token: Token) -> String {
        switch token.kind {
        case .text: return "template text"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .name(let n): return "'\(n)'"
        case .string: return "string literal"
        case .integer, .float: return "number"
        case .op(let o): return "'\(o)'"
        case .eof: return "end of template"
        }
    }

    private mutating func enter() throws {
        depth += 1
        if depth > maxDepth { throw TemplateError(.limit, "template nesting too deep", line: current.line, column: current.column) }
    }

    /// One more link of a left-associative chain (`a + b + c`, `x.a.b`, `v | f | g`): each link
    /// deepens the tree the renderer walks recursively, so it counts as nesting until the chain ends.
    private mutating func link(_ links: inout Int) throws {
        links += 1
        try enter()
    }

    // MARK: statements

    mutating func parseTemplate() throws -> [Node] {
        let (nodes, end) = try parseBody(until: [])
        if let end { throw error("unexpected '\(end)' tag") }
        return nodes
    }

    /// Parses nodes until a block tag whose name is in `until` (left unconsumed after the name) or EOF.
    private mutating func parseBody(until: Set<String>) throws -> ([Node], String?) {
        try enter()
        defer { depth -= 1 }
        var nodes: [Node] = []
        while true {
            let token = current
            switch token.kind {
            case .eof:
                if !until.isEmpty {
                    throw error("unexpected end of template; expected one of: \(until.sorted().joined(separator: ", "))")
                }
                return (nodes, nil)
            case .text(let text):
                _ = advance()
                nodes.append(.text(text))
            case .variableBegin:
                _ = advance()
                let expr = try parseExpression()
                guard case .variableEnd = current.kind else { throw error("expected '}}', got \(describe(current))") }
                _ = advance()
                nodes.append(.output(expr, line: token.line))
            case .blockBegin:
                _ = advance()
                let nameToken = current
                guard case .name(let keyword) = nameToken.kind else { throw error("expected a tag name") }
                if until.contains(keyword) {
                    _ = advance()
                    return (nodes, keyword)
                }
                _ = advance()
                nodes.append(try parseStatement(keyword, nameToken))
            default:
                throw error("unexpected \(describe(token))")
            }
        }
    }

    private mutating func parseStatement(_ keyword: String, _ token: Token) throws -> Node {
        switch keyword {
        case "if": return try parseIf(token)
        case "for": return try parseFor(token)
        case "set": return try parseSet(token)
        case "macro": return try parseMacro(token)
        case "break":
            try expectBlockEnd()
            return .breakLoop(line: token.line)
        case "continue":
            try expectBlockEnd()
            return .continueLoop(line: token.line)
        case "generation":
            // transformers' AssistantTracker tag: renders its body unchanged.
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endgeneration"])
            try expectBlockEnd()
            return .block(body)
        default:
            throw error("unknown or unsupported tag '\(keyword)'", token)
        }
    }

    private mutating func parseIf(_ token: Token) throws -> Node {
        var branches: [(Expr, [Node])] = []
        var condition = try parseExpression()
        try expectBlockEnd()
        while true {
            let (body, end) = try parseBody(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch end {
            case "elif":
                condition = try parseExpression()
                try expectBlockEnd()
            case "else":
                try expectBlockEnd()
                let (otherwise, _) = try parseBody(until: ["endif"])
                try expectBlockEnd()
                return .ifBlock(branches, otherwise: otherwise, line: token.line)
            default:
                try expectBlockEnd()
                return .ifBlock(branches, otherwise: [], line: token.line)
            }
        }
    }

    private mutating func parseFor(_ token: Token) throws -> Node {
        var names = [try expectName()]
        while isOp(",") {
            _ = advance()
            names.append(try expectName())
        }
        let target: Target = names.count == 1 ? .name(names[0]) : .tuple(names)
        guard isName("in") else { throw error("expected 'in' in for loop") }
        _ = advance()
        let iterable = try parseTernaryFree()
        var filter: Expr?
        if isName("if") {
            _ = advance()
            filter = try parseTernaryFree()
        }
        if isName("recursive") { throw error("recursive for loops are not supported") }
        try expectBlockEnd()
        let (body, end) = try parseBody(until: ["else", "endfor"])
        var otherwise: [Node] = []
        if end == "else" {
            try expectBlockEnd()
            (otherwise, _) = try parseBody(until: ["endfor"])
        }
        try expectBlockEnd()
        return .forBlock(target: target, iterable: iterable, filter: filter, body: body, otherwise: otherwise, line: token.line)
    }

    private mutating func parseSet(_ token: Token) throws -> Node {
        let first = try expectName()
        var target: Target = .name(first)
        if isOp(".") {
            _ = advance()
            target = .attribute(first, try expectName())
        } else if isOp(",") {
            var names = [first]
            while isOp(",") {
                _ = advance()
                names.append(try expectName())
            }
            target = .tuple(names)
        }
        if isOp("=") {
            _ = advance()
            let value = try parseTupleOrExpression()
            try expectBlockEnd()
            return .set(target, value, line: token.line)
        }
        var filters: [(String, [Expr], [(String, Expr)])] = []
        while isOp("|") {
            _ = advance()
            let name = try parseDottedName()
            var args: [Expr] = []
            var kwargs: [(String, Expr)] = []
            if isOp("(") { (args, kwargs) = try parseCallArguments() }
            filters.append((name, args, kwargs))
        }
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endset"])
        try expectBlockEnd()
        return .setBlock(target, filters: filters, body: body, line: token.line)
    }

    private mutating func parseMacro(_ token: Token) throws -> Node {
        let name = try expectName()
        try expectOp("(")
        var parameters: [(String, Expr?)] = []
        while !isOp(")") {
            let param = try expectName()
            var defaultValue: Expr?
            if isOp("=") {
                _ = advance()
                defaultValue = try parseExpression()
            }
            parameters.append((param, defaultValue))
            if !isOp(")") { try expectOp(",") }
        }
        _ = advance()
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endmacro"])
        if case .name = current.kind { _ = advance() }  // optional `{% endmacro name %}`
        try expectBlockEnd()
        return .macro(MacroDefinition(name: name, parameters: parameters, body: body))
    }

    // MARK: expressions

    /// `a, b` without parentheses is a tuple (used by `set x = 1, 2`).
    private mutating func parseTupleOrExpression() throws -> Expr {
        let first = try parseExpression()
        guard isOp(",") else { return first }
        var items = [first]
        while isOp(",") {
            _ = advance()
            if case .blockEnd = current.kind { break }
            items.append(try parseExpression())
        }
        return .tuple(items)
    }

    mutating func parseExpression() throws -> Expr {
        try enter()
        defer { depth -= 1 }
        let expr = try parseOr()
        if isName("if") {
            _ = advance()
            let test = try parseOr()
            var otherwise: Expr?
            if isName("else") {
                _ = advance()
                otherwise = try parseExpression()
            }
            return .conditional(test: test, then: expr, otherwise: otherwise)
        }
        return expr
    }

    /// Expression without a trailing conditional (for-loop iterables and filters).
    private mutating func parseTernaryFree() throws -> Expr {
        try enter()
        defer { depth -= 1 }
        return try parseOr()
    }

    private mutating func parseOr() throws -> Expr {
        var links = 0
        defer { depth -= links }
        var left = try parseAnd()
        while isName("or") {
            try link(&links)
            _ = advance()
            left = .or(left, try parseAnd())
        }
        return left
    }

    private mutating func parseAnd() throws -> Expr {
        var links = 0
        defer { depth -= links }
        var left = try parseNot()
        while isName("and") {
            try link(&links)
            _ = advance()
            left = .and(left, try parseNot())
        }
        return left
    }

    private mutating func parseNot() throws -> Expr {
        if isName("not") {
            _ = advance()
            try enter()
            defer { depth -= 1 }
            return .not(try parseNot())
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expr {
        let left = try parseMath1()
        var ops: [(String, Expr)] = []
        while true {
            if case .op(let o) = current.kind, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                _ = advance()
                ops.append((o, try parseMath1()))
            } else if isName("in") {
                _ = advance()
                ops.append(("in", try parseMath1()))
            } else if isName("not") && peekIsName("in", offset: 1) {
                _ = advance()
                _ = advance()
                ops.append(("notin", try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? left : .compare(left, ops)
    }

    private mutating func parseMath1() throws -> Expr {
        var links = 0
        defer { depth -= links }
        var left = try parseConcat()
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            try link(&links)
            _ = advance()
            left = .binary(o, left, try parseConcat())
        }
        return left
    }

    private mutating func parseConcat() throws -> Expr {
        var items = [try parseMath2()]
        while isOp("~") {
            _ = advance()
            items.append(try parseMath2())
        }
        return items.count == 1 ? items[0] : .concat(items)
    }

    private mutating func parseMath2() throws -> Expr {
        var links = 0
        defer { depth -= links }
        var left = try parsePow()
        while case .op(let o) = current.kind, ["*", "/", "//", "%"].contains(o) {
            try link(&links)
            _ = advance()
            left = .binary(o, left, try parsePow())
        }
        return left
    }

    private mutating func parsePow() throws -> Expr {
        var links = 0
        defer { depth -= links }
        var left = try parseUnary(withFilter: true)
        while isOp("**") {
            try link(&links)
            _ = advance()
            left = .binary("**", left, try parseUnary(withFilter: true))
        }
        return left
    }

    private mutating func parseUnary(withFilter: Bool) throws -> Expr {
        try enter()
        defer { depth -= 1 }
        var node: Expr
        if isOp("-") || isOp("+") {
            guard case .op(let o) = advance().kind else { throw error("unreachable") }
            node = .unary(o, try parseUnary(withFilter: false))
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilter { node = try parseFilterExpr(node) }
        return node
    }

    private mutating func parsePrimary() throws -> Expr {
        let token = advance()
        switch token.kind {
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .string(var s):
            while case .string(let more) = current.kind {
                s += more
                _ = advance()
            }
            return .literal(.string(s))
        case .integer(let i): return .literal(.int(i))
        case .float(let d): return .literal(.double(d))
        case .op("("):
            if isOp(")") {
                _ = advance()
                return .tuple([])
            }
            let first = try parseExpression()
            if isOp(")") {
                _ = advance()
                return first
            }
            var items = [first]
            while isOp(",") {
                _ = advance()
                if isOp(")") { break }
                items.append(try parseExpression())
            }
            try expectOp(")")
            return .tuple(items)
        case .op("["):
            var items: [Expr] = []
            while !isOp("]") {
                items.append(try parseExpression())
                if !isOp("]") { try expectOp(",") }
            }
            _ = advance()
            return .list(items)
        case .op("{"):
            var pairs: [(Expr, Expr)] = []
            while !isOp("}") {
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
                if !isOp("}") { try expectOp(",") }
            }
            _ = advance()
            return .dict(pairs)
        default:
            throw error("unexpected \(describe(token)) in expression", token)
        }
    }

    private mutating func parsePostfix(_ start: Expr) throws -> Expr {
        var links = 0
        defer { depth -= links }
        var node = start
        while true {
            if isOp(".") || isOp("[") || isOp("(") { try link(&links) }
            if isOp(".") {
                _ = advance()
                switch current.kind {
                case .name(let n):
                    _ = advance()
                    node = .getattr(node, n)
                case .integer(let i):
                    _ = advance()
                    node = .getitem(node, .literal(.int(i)))
                default:
                    throw error("expected attribute name after '.'")
                }
            } else if isOp("[") {
                _ = advance()
                node = try parseSubscript(node)
            } else if isOp("(") {
                let (args, kwargs) = try parseCallArguments()
                node = .call(node, args, kwargs)
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ base: Expr) throws -> Expr {
        var parts: [Expr?] = [nil]
        var isSlice = false
        while !isOp("]") {
            if isOp(":") {
                _ = advance()
                isSlice = true
                parts.append(nil)
                if parts.count > 3 { throw error("invalid slice") }
            } else {
                guard parts[parts.count - 1] == nil else { throw error("expected ']'") }
                parts[parts.count - 1] = try parseExpression()
            }
        }
        _ = advance()
        if !isSlice {
            guard let key = parts[0] else { throw error("empty subscript") }
            return .getitem(base, key)
        }
        while parts.count < 3 { parts.append(nil) }
        return .slice(base, parts[0], parts[1], parts[2])
    }

    private mutating func parseCallArguments() throws -> ([Expr], [(String, Expr)]) {
        try expectOp("(")
        var args: [Expr] = []
        var kwargs: [(String, Expr)] = []
        while !isOp(")") {
            if case .name(let n) = current.kind, index + 1 < tokens.count, case .op("=") = tokens[index + 1].kind {
                _ = advance()
                _ = advance()
                kwargs.append((n, try parseExpression()))
            } else {
                if isOp("*") || isOp("**") { throw error("*args / **kwargs calls are not supported") }
                guard kwargs.isEmpty else { throw error("positional argument follows keyword argument") }
                args.append(try parseExpression())
            }
            if !isOp(")") { try expectOp(",") }
        }
        _ = advance()
        return (args, kwargs)
    }

    private mutating func parseDottedName() throws -> String {
        var name = try expectName()
        while isOp(".") {
            _ = advance()
            name += "." + (try expectName())
        }
        return name
    }

    private mutating func parseFilterExpr(_ start: Expr) throws -> Expr {
        var links = 0
        defer { depth -= links }
        var node = start
        while true {
            if isOp("|") || isName("is") || isOp("(") { try link(&links) }
            if isOp("|") {
                _ = advance()
                let name = try parseDottedName()
                var args: [Expr] = []
                var kwargs: [(String, Expr)] = []
                if isOp("(") { (args, kwargs) = try parseCallArguments() }
                node = .filter(node, name, args, kwargs)
            } else if isName("is") {
                _ = advance()
                var negated = false
                if isName("not") {
                    _ = advance()
                    negated = true
                }
                let name = try parseDottedName()
                var args: [Expr] = []
                if isOp("(") {
                    let (positional, keywords) = try parseCallArguments()
                    args = positional + keywords.map { $0.1 }
                } else {
                    switch current.kind {
                    case .name(let n) where !["else", "or", "and", "if", "is", "in", "not"].contains(n):
                        args = [try parsePostfix(try parsePrimary())]
                    case .string, .integer, .float, .op("["), .op("{"):
                        args = [try parsePostfix(try parsePrimary())]
                    default:
                        break
                    }
                }
                node = .test(node, name, args, negated: negated)
            } else if isOp("(") {
                let (args, kwargs) = try parseCallArguments()
                node = .call(node, args, kwargs)
            } else {
                return node
            }
        }
    }
}
