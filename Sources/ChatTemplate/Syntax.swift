/// Expression syntax tree.
indirect enum Expr: Sendable {
    case literal(Literal)
    case name(String)
    case list([Expr])
    case tuple([Expr])
    case dict([(Expr, Expr)])
    case getattr(Expr, String)
    case getitem(Expr, Expr)
    case slice(Expr, Expr?, Expr?, Expr?)
    case call(Expr, [Expr], [(String, Expr)])
    case filter(Expr, String, [Expr], [(String, Expr)])
    case test(Expr, String, [Expr], negated: Bool)
    case unary(String, Expr)
    case binary(String, Expr, Expr)
    case compare(Expr, [(String, Expr)])
    case and(Expr, Expr)
    case or(Expr, Expr)
    case not(Expr)
    case concat([Expr])
    case conditional(test: Expr, then: Expr, otherwise: Expr?)
}

/// A literal constant in template source.
enum Literal: Sendable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case none
}

/// Assignment targets of `set` and `for`.
enum Target: Sendable {
    case name(String)
    case tuple([String])
    case attribute(String, String)  // ns.attr
}

/// A macro definition.
struct MacroDefinition: Sendable {
    let name: String
    let parameters: [(String, Expr?)]
    let body: [Node]
}

/// Statement syntax tree; `line` fields locate runtime errors.
indirect enum Node: Sendable {
    case text(String)
    case output(Expr, line: Int)
    case ifBlock([(Expr, [Node])], otherwise: [Node], line: Int)
    case forBlock(target: Target, iterable: Expr, filter: Expr?, body: [Node], otherwise: [Node], line: Int)
    case set(Target, Expr, line: Int)
    case setBlock(Target, filters: [(String, [Expr], [(String, Expr)])], body: [Node], line: Int)
    case macro(MacroDefinition)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
    case block([Node])
}
