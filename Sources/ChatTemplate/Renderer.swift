import Foundation

/// Variable scope; `for` bodies and macro calls get a child scope (Jinja2 scoping).
final class Scope {
    var variables: [String: Value] = [:]
    let parent: Scope?
    init(parent: Scope?) { self.parent = parent }

    func lookup(_ name: String) -> Value? {
        var scope: Scope? = self
        while let s = scope {
            if let v = s.variables[name] { return v }
            scope = s.parent
        }
        return nil
    }
}

/// Control flow out of a statement list.
enum Flow { case normal, breakLoop, continueLoop }

/// Executes a parsed template against a context. One instance per render call (not shared across threads).
final class Renderer {
    let limits: ChatTemplate.Limits
    let now: Date
    let timeZone: TimeZone
    private var outputs: [String] = [""]
    private var bytesWritten = 0
    private var steps = 0
    private var work = 0
    /// Namespaces and macro-defining scopes of this render, in creation order (see `releaseObjects`).
    private var namespaces: [NamespaceObject] = []
    private var macroScopes: [Scope] = []
    private var callDepth = 0
    /// Current depth of the recursive walk (statements, expressions, macro bodies together).
    private var depth = 0
    var currentLine = 0

    init(limits: ChatTemplate.Limits, now: Date, timeZone: TimeZone) {
        self.limits = limits
        self.now = now
        self.timeZone = timeZone
    }

    // MARK: budget

    func tick(_ n: Int = 1) throws {
        steps = steps.addingReportingOverflow(max(0, n)).overflow ? Int.max : steps + max(0, n)
        if steps > limits.maxSteps {
            throw TemplateError(.limit, "template exceeded \(limits.maxSteps) loop iterations / steps")
        }
        try charge(0)  // work noted by non-throwing comparisons surfaces here at the latest
    }

    /// Charges `units` (bytes built, copied or scanned; 16 per list item) against `maxWorkBytes`.
    /// Call it before the work, with sizes computed without allocating.
    func charge(_ units: Int) throws {
        let (total, overflow) = work.addingReportingOverflow(max(0, units))
        work = overflow ? Int.max : total
        if work > limits.maxWorkBytes {
            throw TemplateError(.limit, "template exceeded its work budget of \(limits.maxWorkBytes) bytes")
        }
    }

    /// Records work from code that cannot throw (equality, ordering); the next `charge` or `tick` enforces it.
    func noteWork(_ units: Int) {
        let (total, overflow) = work.addingReportingOverflow(max(0, units))
        work = overflow ? Int.max : total
    }

    /// Checks, before allocating, that a string of `bytes` UTF-8 bytes fits `maxOutputBytes`, and charges it.
    func reserve(_ bytes: Int) throws {
        try ensureFits(bytes)
        try charge(bytes)
    }

    /// Checks, before appending, that a string growing to `bytes` UTF-8 bytes fits `maxOutputBytes`
    /// (the appended part is charged separately).
    func ensureFits(_ bytes: Int) throws {
        if bytes > limits.maxOutputBytes || bytes < 0 {
            throw TemplateError(.limit, "string exceeds \(limits.maxOutputBytes) bytes")
        }
    }

    /// Work units of reading `value` once: its bytes for a string, 16 per item for a list or dict.
    func cost(_ value: Value) -> Int {
        switch value {
        case .string(let s): return s.utf8.count
        case .array(let items): return items.count &* 16
        case .dict(let d): return d.count &* 16
        default: return 1
        }
    }

    /// Deepest list/dict nesting a value may have (namespaces and functions count as leaves; the
    /// values bound into list and dict methods count). Deeper values would make comparison, printing
    /// and even deallocation recurse too deeply.
    var maxValueDepth: Int { max(limits.maxNestingDepth, 8) &+ 56 }

    /// Throws `.limit` when `value` nests deeper than `maxValueDepth`; the walk is charged as work.
    func checkValueDepth(_ value: Value) throws {
        func walk(_ v: Value, _ level: Int) throws {
            switch v {
            case .array(let items):
                guard level < maxValueDepth else { throw TemplateError(.limit, "list or dict nested too deeply") }
                try charge(items.count)
                for item in items { try walk(item, level + 1) }
            case .dict(let d):
                guard level < maxValueDepth else { throw TemplateError(.limit, "list or dict nested too deeply") }
                try charge(d.count)
                for (_, item) in d.entries { try walk(item, level + 1) }
            case .callable(let c):
                if let receiver = c.receiver { try walk(receiver, level + 1) }
            default:
                break
            }
        }
        try walk(value, 0)
    }

    /// Context values may nest as deep as `maxValueDepth`; the check recurses no deeper than that.
    func checkContextDepth(_ value: TemplateValue) throws {
        func walk(_ v: TemplateValue, _ level: Int) throws {
            switch v {
            case .array(let items):
                guard level < maxValueDepth else { throw TemplateError(.limit, "context value nested too deeply") }
                for item in items { try walk(item, level + 1) }
            case .dictionary(let d):
                guard level < maxValueDepth else { throw TemplateError(.limit, "context value nested too deeply") }
                for (_, item) in d.entries { try walk(item, level + 1) }
            default:
                break
            }
        }
        try walk(value, 0)
    }

    /// A new namespace, remembered so that `releaseObjects` can break the cycles it may be part of.
    func makeNamespace(_ attributes: [(String, Value)]) throws -> NamespaceObject {
        for (_, value) in attributes { try checkValueDepth(value) }
        let namespace = NamespaceObject(attributes)
        namespaces.append(namespace)
        return namespace
    }

    /// After a render: namespaces can contain themselves, and macros reference the scope that holds
    /// them, so these reference cycles are broken here (otherwise every render would leak them).
    /// Clearing in creation order keeps every release shallow, however long the chain a template built.
    func releaseObjects(_ root: Scope) {
        for namespace in namespaces { namespace.attributes = [] }
        for scope in macroScopes { scope.variables = [:] }
        namespaces = []
        macroScopes = []
        root.variables = [:]
    }

    func checkString(_ s: String) throws -> String {
        if s.utf8.count > limits.maxOutputBytes {
            throw TemplateError(.limit, "string exceeds \(limits.maxOutputBytes) bytes")
        }
        return s
    }

    func checkArray(_ a: [Value]) throws -> [Value] {
        if a.count > limits.maxSteps { throw TemplateError(.limit, "list exceeds \(limits.maxSteps) items") }
        return a
    }

    private func write(_ s: String) throws {
        try charge(s.utf8.count)
        bytesWritten += s.utf8.count
        if bytesWritten > limits.maxOutputBytes {
            throw TemplateError(.limit, "output exceeds \(limits.maxOutputBytes) bytes")
        }
        outputs[outputs.count - 1] += s
    }

    /// Runs `body` capturing its output (macro calls, `{% set x %}` blocks).
    func capture(_ body: () throws -> Void) throws -> String {
        outputs.append("")
        defer { outputs.removeLast() }
        try body()
        return outputs[outputs.count - 1]
    }

    // MARK: statements

    func render(_ nodes: [Node], context: Scope) throws -> String {
        outputs = [""]
        _ = try execute(nodes, context)
        return outputs[0]
    }

    func execute(_ nodes: [Node], _ scope: Scope) throws -> Flow {
        for node in nodes {
            let flow = try execute(node, scope)
            if flow != .normal { return flow }
        }
        return .normal
    }

    /// Enters one level of the recursive walk; macro recursion multiplies the parser's nesting, so the
    /// walk has its own bound (a multiple of `maxNestingDepth`) to stop well before the stack runs out.
    private func descend() throws {
        depth += 1
        if depth > limits.maxNestingDepth.multipliedReportingOverflow(by: 4).partialValue {
            throw TemplateError(.limit, "template evaluation nested too deeply")
        }
    }

    private func execute(_ node: Node, _ scope: Scope) throws -> Flow {
        try descend()
        defer { depth -= 1 }
        switch node {
        case .text(let text):
            try write(text)
        case .output(let expr, let line):
            currentLine = line
            try write(try pyStr(try eval(expr, scope)))
        case .ifBlock(let branches, let otherwise, let line):
            currentLine = line
            for (condition, body) in branches where try eval(condition, scope).truthy {
                return try execute(body, scope)
            }
            return try execute(otherwise, scope)
        case .forBlock(let target, let iterableExpr, let filter, let body, let otherwise, let line):
            currentLine = line
            return try executeFor(target, iterableExpr, filter, body, otherwise, scope)
        case .set(let target, let expr, let line):
            currentLine = line
            try assign(target, try eval(expr, scope), scope)
        case .setBlock(let target, let filters, let body, let line):
            currentLine = line
            var value = Value.string(try capture { _ = try execute(body, scope) })
            for (name, args, kwargs) in filters {
                value = try applyFilter(
                    name, value, try args.map { try eval($0, scope) },
                    try kwargs.map { ($0.0, try eval($0.1, scope)) })
            }
            try assign(target, value, scope)
        case .macro(let definition):
            macroScopes.append(scope)
            scope.variables[definition.name] = .callable(makeMacro(definition, scope))
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        case .block(let body):
            return try execute(body, scope)
        }
        return .normal
    }

    private func assign(_ target: Target, _ value: Value, _ scope: Scope) throws {
        switch target {
        case .name(let name):
            scope.variables[name] = value
        case .tuple(let names):
            let items = try unpack(value, count: names.count)
            for (name, item) in zip(names, items) { scope.variables[name] = item }
        case .attribute(let object, let attribute):
            guard case .namespace(let ns) = scope.lookup(object) ?? .undefined("") else {
                throw TemplateError(.type, "cannot assign attribute on non-namespace object")
            }
            if attribute.hasPrefix("_") {
                throw TemplateError(
                    .security,
                    "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(attribute)'. Please rename the attribute.")
            }
            try checkValueDepth(value)
            ns[attribute] = value
        }
    }

    private func unpack(_ value: Value, count: Int) throws -> [Value] {
        let items = try iterate(value)
        if items.count != count {
            throw TemplateError(
                .type,
                items.count > count
                    ? "too many values to unpack (expected \(count))"
                    : "not enough values to unpack (expected \(count), got \(items.count))")
        }
        return items
    }

    /// Items a `for` loop or filter sees: list items, dict keys, string characters; undefined is empty.
    func iterate(_ value: Value) throws -> [Value] {
        switch value {
        case .array(let items): return items
        case .dict(let d):
            try charge(d.count &* 16)
            return d.keys.map { .string($0) }
        case .string(let s):
            try charge(s.utf8.count &* 16)
            if s.utf8.count > limits.maxSteps, s.unicodeScalars.count > limits.maxSteps {
                throw TemplateError(.limit, "string of more than \(limits.maxSteps) characters iterated")
            }
            return s.unicodeScalars.map { .string(String(Character($0))) }
        case .undefined: return []
        default: throw TemplateError(.type, "'\(value.typeName)' object is not iterable")
        }
    }

    private func executeFor(
        _ target: Target, _ iterableExpr: Expr, _ filter: Expr?, _ body: [Node],
        _ otherwise: [Node], _ scope: Scope
    ) throws -> Flow {
        var items = try iterate(try eval(iterableExpr, scope))
        if let filter {
            var kept: [Value] = []
            for item in items {
                try tick()
                let probe = Scope(parent: scope)
                try assign(target, item, probe)
                if try eval(filter, probe).truthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty { return try execute(otherwise, scope) }
        let length = items.count
        for (index, item) in items.enumerated() {
            try tick()
            let iterationScope = Scope(parent: scope)
            var loop = ValueDict()
            loop["index"] = .int(index + 1)
            loop["index0"] = .int(index)
            loop["revindex"] = .int(length - index)
            loop["revindex0"] = .int(length - index - 1)
            loop["first"] = .bool(index == 0)
            loop["last"] = .bool(index == length - 1)
            loop["length"] = .int(length)
            loop["depth"] = .int(1)
            loop["depth0"] = .int(0)
            loop["previtem"] = index > 0 ? items[index - 1] : .undefined("there is no previous item")
            loop["nextitem"] = index + 1 < length ? items[index + 1] : .undefined("there is no next item")
            loop["cycle"] = .callable(
                Callable("cycle") { args, _ in
                    guard !args.isEmpty else { throw TemplateError(.type, "no items for cycling given") }
                    return args[index % args.count]
                })
            iterationScope.variables["loop"] = .dict(loop)
            try assign(target, item, iterationScope)
            let flow = try execute(body, iterationScope)
            if flow == .breakLoop { break }
        }
        return .normal
    }

    private func makeMacro(_ definition: MacroDefinition, _ definingScope: Scope) -> Callable {
        Callable(definition.name) { [unowned self] args, kwargs in
            try self.tick()
            guard self.callDepth < self.limits.maxCallDepth else {
                throw TemplateError(.limit, "macro recursion deeper than \(self.limits.maxCallDepth)")
            }
            if args.count > definition.parameters.count {
                throw TemplateError(.type, "macro '\(definition.name)' takes not more than \(definition.parameters.count) argument(s)")
            }
            let scope = Scope(parent: definingScope)
            for (i, (name, defaultExpr)) in definition.parameters.enumerated() {
                if i < args.count {
                    scope.variables[name] = args[i]
                } else if let kw = kwargs.first(where: { $0.0 == name }) {
                    scope.variables[name] = kw.1
                } else if let defaultExpr {
                    scope.variables[name] = try self.eval(defaultExpr, scope)
                } else {
                    scope.variables[name] = .undefined("parameter '\(name)' was not provided")
                }
            }
            for (name, _) in kwargs where !definition.parameters.contains(where: { $0.0 == name }) {
                throw TemplateError(.type, "macro '\(definition.name)' takes no keyword argument '\(name)'")
            }
            self.callDepth += 1
            defer { self.callDepth -= 1 }
            return .string(try self.capture { _ = try self.execute(definition.body, scope) })
        }
    }

    // MARK: expressions

    func eval(_ expr: Expr, _ scope: Scope) throws -> Value {
        try descend()
        defer { depth -= 1 }
        switch expr {
        case .literal(let literal):
            switch literal {
            case .string(let s): return .string(s)
            case .int(let i): return .int(i)
            case .double(let d): return .double(d)
            case .bool(let b): return .bool(b)
            case .none: return .none
            }
        case .name(let name):
            return scope.lookup(name) ?? .undefined("'\(name)' is undefined")
        case .list(let items), .tuple(let items):
            let value = Value.array(try items.map { try eval($0, scope) })
            try checkValueDepth(value)
            return value
        case .dict(let pairs):
            var dict = ValueDict()
            for (keyExpr, valueExpr) in pairs {
                let key = try eval(keyExpr, scope)
                guard case .string(let k) = key else {
                    throw TemplateError(.type, "only string keys are supported in dict literals")
                }
                dict[k] = try eval(valueExpr, scope)
            }
            let value = Value.dict(dict)
            try checkValueDepth(value)
            return value
        case .getattr(let objectExpr, let name):
            return try getattr(try eval(objectExpr, scope), name)
        case .getitem(let objectExpr, let keyExpr):
            return try getitem(try eval(objectExpr, scope), try eval(keyExpr, scope))
        case .slice(let objectExpr, let a, let b, let c):
            let object = try eval(objectExpr, scope)
            return try slice(
                object, try a.map { try eval($0, scope) }, try b.map { try eval($0, scope) },
                try c.map { try eval($0, scope) })
        case .call(let calleeExpr, let argExprs, let kwargExprs):
            let callee = try eval(calleeExpr, scope)
            let args = try argExprs.map { try eval($0, scope) }
            let kwargs = try kwargExprs.map { ($0.0, try eval($0.1, scope)) }
            switch callee {
            case .callable(let function): return try function.body(args, kwargs)
            case .undefined(let hint): throw TemplateError(.undefined, hint)
            default: throw TemplateError(.type, "'\(callee.typeName)' object is not callable")
            }
        case .filter(let valueExpr, let name, let argExprs, let kwargExprs):
            let value = try eval(valueExpr, scope)
            return try applyFilter(
                name, value, try argExprs.map { try eval($0, scope) },
                try kwargExprs.map { ($0.0, try eval($0.1, scope)) })
        case .test(let valueExpr, let name, let argExprs, let negated):
            let value = try eval(valueExpr, scope)
            let result = try applyTest(name, value, try argExprs.map { try eval($0, scope) })
            return .bool(result != negated)
        case .unary(let op, let operandExpr):
            let operand = try eval(operandExpr, scope)
            switch (op, operand) {
            case ("-", .int(let i)):
                guard i != Int.min else { throw TemplateError(.limit, "integer overflow") }
                return .int(-i)
            case ("-", .double(let d)): return .double(-d)
            case ("-", .bool(let b)): return .int(b ? -1 : 0)
            case ("+", .int), ("+", .double): return operand
            case ("+", .bool(let b)): return .int(b ? 1 : 0)
            case (_, .undefined(let hint)): throw TemplateError(.undefined, hint)
            default: throw TemplateError(.type, "bad operand type for unary \(op): '\(operand.typeName)'")
            }
        case .binary(let op, let leftExpr, let rightExpr):
            return try binary(op, try eval(leftExpr, scope), try eval(rightExpr, scope))
        case .compare(let firstExpr, let ops):
            var left = try eval(firstExpr, scope)
            for (op, rightExpr) in ops {
                let right = try eval(rightExpr, scope)
                if !(try compare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .and(let a, let b):
            let left = try eval(a, scope)
            return left.truthy ? try eval(b, scope) : left
        case .or(let a, let b):
            let left = try eval(a, scope)
            return left.truthy ? left : try eval(b, scope)
        case .not(let a):
            return .bool(!(try eval(a, scope).truthy))
        case .concat(let items):
            var out = ""
            for item in items {
                let part = try pyStr(try eval(item, scope))
                try ensureFits(out.utf8.count + part.utf8.count)
                try charge(part.utf8.count)
                out += part
            }
            return .string(out)
        case .conditional(let test, let then, let otherwise):
            if try eval(test, scope).truthy { return try eval(then, scope) }
            if let otherwise { return try eval(otherwise, scope) }
            return .undefined("the inline if-expression evaluated to false and no else section was defined")
        }
    }
}
