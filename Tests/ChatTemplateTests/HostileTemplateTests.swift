import Foundation
import Testing

@testable import ChatTemplate

// Hostile templates (a GGUF file's chat template is untrusted): each must end in a TemplateError of
// the right kind, or render as Jinja2 does, and never trap, overflow the stack or run away.

private func render(_ source: String, _ context: [String: TemplateValue] = [:]) throws -> String {
    try ChatTemplate(source).render(context)
}

private let intMin = "(-9223372036854775807 - 1)"

@Test func divisibleByWithIntMinAndMinusOneDoesNotTrap() throws {
    // Int.min % -1 traps in machine arithmetic; Python's answer is 0, so the test is true.
    #expect(try render("{{ \(intMin) is divisibleby(-1) }}") == "True")
    #expect(try render("{{ \(intMin) is divisibleby(3) }}|{{ 9 is divisibleby(-3) }}") == "False|True")
    #expect(renderError("{{ 3 is divisibleby(0) }}")?.kind == .type)
}

@Test func formatWithNegativeOrHugeIndexIsAnError() throws {
    // '{-1}' names a keyword argument in Python (KeyError), not the last positional one.
    #expect(renderError("{{ '{-1}'.format(1) }}")?.kind == .type)
    #expect(renderError("{{ '{99999999999999999999}'.format(1) }}")?.kind == .type)
    #expect(try render("{{ '{1}{0}{x}'.format('a', 'b', x='c') }}") == "bac")
}

@Test func overflowingIntegerArithmeticIsALimitError() throws {
    for source in [
        "{{ \(intMin) // -1 }}", "{{ -\(intMin) }}", "{{ \(intMin)|abs }}", "{{ \(intMin) - 1 }}",
        "{{ 9223372036854775807 * 2 }}", "{{ 3 ** 9223372036854775807 }}"
    ] {
        #expect(renderError(source)?.kind == .limit, "\(source)")
    }
    #expect(try render("{{ \(intMin) % -1 }}|{{ 1 ** 9223372036854775807 }}") == "0|1")
}

@Test func floatToIntConversionsNeverTrap() throws {
    #expect(
        try render("{{ 1e300|int }}|{{ (-1e300)|int }}|{{ 'nan'|float|int }}|{{ 'inf'|float|int }}|{{ '1e300'|int }}")
            == "0|0|0|0|0")
    #expect(try render("{{ 2.9|int }}|{{ '-7'|int }}|{{ ' 12 '|int }}") == "2|-7|12")
}

@Test func hugeRangesAreRefusedWithoutTrapping() throws {
    #expect(renderError("{{ range(-9223372036854775807, 9223372036854775807)|length }}")?.kind == .limit)
    #expect(renderError("{{ range(\(intMin), 9223372036854775807, 9223372036854775807)|length }}")?.kind == nil)
    #expect(
        try render("{{ range(0, 1, \(intMin))|list }}|{{ range(5, 9223372036854775807, 9223372036854775807)|list }}")
            == "[]|[5]")
    #expect(try render("{{ range(9223372036854775806, 9223372036854775807)|list }}") == "[9223372036854775806]")
    #expect(try render("{{ range(10, 0, -3)|list }}|{{ range(3)|list }}") == "[10, 7, 4, 1]|[0, 1, 2]")
}

@Test func longLeftAssociativeChainsAreLimitedAtParseTime() throws {
    // Built iteratively by the parser, but evaluated (and deallocated) recursively.
    let chains = [
        "+".join(repeating: "0", 100_000), "*".join(repeating: "1", 100_000), "**".join(repeating: "1", 100_000),
        " or ".join(repeating: "0", 100_000), " and ".join(repeating: "1", 100_000),
        "x" + String(repeating: ".a", count: 100_000), "x" + String(repeating: "[0]", count: 100_000),
        "x" + String(repeating: "()", count: 100_000), "0" + String(repeating: "|abs", count: 100_000),
        "x" + String(repeating: " is defined", count: 100_000)
    ]
    for chain in chains {
        let error = renderError("{{ \(chain) }}")
        #expect(error?.kind == .limit, "\(chain.prefix(20))...: \(String(describing: error))")
    }
    // Realistic chains still work.
    #expect(try render("{{ 1 + 2 - 3 + 4 }}|{{ 'a' ~ 'b' ~ 'c' }}|{{ ' X '|trim|lower|upper }}") == "4|abc|X")
    // `~` and comparison chains are flat lists: long ones are fine.
    #expect(try render("{{ " + "~".join(repeating: "'a'", 10_000) + " }}").count == 10_000)
}

@Test func deepNestingOfEveryKindIsALimitError() throws {
    let cases = [
        "{{ " + String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_000) + " }}",
        "{{ " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + " }}",
        "{{ " + String(repeating: "{'a': ", count: 100_000) + "1" + String(repeating: "}", count: 100_000) + " }}",
        "{{ " + String(repeating: "not ", count: 100_000) + "1 }}",
        "{{ " + String(repeating: "-", count: 100_000) + "1 }}",
        "{{ " + String(repeating: "1 if 1 else ", count: 100_000) + "1 }}",
        String(repeating: "{% if 1 %}", count: 100_000) + String(repeating: "{% endif %}", count: 100_000),
        String(repeating: "{% for x in [1] %}", count: 10_000) + String(repeating: "{% endfor %}", count: 10_000)
    ]
    for source in cases {
        #expect(renderError(source)?.kind == .limit, "\(source.prefix(30))...")
    }
}

@Test func macroRecursionTimesBlockNestingIsBoundedBeforeTheStack() throws {
    // 64 macro levels (the call limit) each 190 blocks deep: the render walk has its own depth bound.
    let blocks = String(repeating: "{% if 1 %}", count: 190) + "{{ f(n) }}" + String(repeating: "{% endif %}", count: 190)
    #expect(renderError("{% macro f(n) %}\(blocks){% endmacro %}{{ f(0) }}")?.kind == .limit)
    let nested = String(repeating: "(", count: 90) + "f(n + 1)" + String(repeating: ")", count: 90)
    #expect(renderError("{% macro f(n) %}{{ \(nested) }}{% endmacro %}{{ f(0) }}")?.kind == .limit)
    // Moderate recursion still renders.
    #expect(try render("{% macro f(n) %}{% if n < 30 %}{{ f(n + 1) }}{% else %}{{ n }}{% endif %}{% endmacro %}{{ f(0) }}") == "30")
}

@Test func repetitionIsCheckedBeforeAllocating() throws {
    #expect(renderError("{{ 'a' * 9223372036854775807 }}")?.kind == .limit)
    #expect(renderError("{{ 9223372036854775807 * 'ab' }}")?.kind == .limit)
    #expect(renderError("{{ [1] * 9223372036854775807 }}")?.kind == .limit)
    // Empty operands: no billion-iteration loop, no billion empty arrays.
    #expect(
        try render("{{ '' * 9223372036854775807 }}|{{ [] * 9223372036854775807 }}|{{ 'ab' * -3 }}|{{ [1, 2] * 2 }}")
            == "|[]||[1, 2, 1, 2]")
}

@Test func joinsAndPrintsOfManyLargeItemsAreCheckedBeforeAllocating() throws {
    // 100,000 references to one 1 MB string: the list is cheap, its join (100 GB) must not be built.
    let big = "(['x' * 1000000] * 100000)"
    for source in [
        "{{ \(big)|join }}", "{{ ''.join(\(big)) }}", "{{ \(big) }}", "{{ \(big)|tojson }}",
        "{{ \(big)|join(',') }}", "{{ ('{0}' * 100000).format('x' * 1000000) }}",
        "{{ " + "~".join(repeating: "('x' * 8000000)", 100) + " }}",
        "{% set ns = namespace(a=\(big)) %}{{ ns }}"
    ] {
        #expect(renderError(source)?.kind == .limit, "\(source.prefix(60))")
    }
}

@Test func replaceIndentAndTojsonIndentAreCheckedBeforeAllocating() throws {
    #expect(renderError("{{ ('a' * 1000000)|replace('', 'b' * 1000000) }}")?.kind == .limit)
    #expect(renderError("{{ ('a' * 1000000).replace('a', 'b' * 1000) }}")?.kind == .limit)
    #expect(renderError("{{ ('a\\n' * 1000000)|indent('b' * 1000000) }}")?.kind == .limit)
    #expect(renderError("{{ [[[[1]]]]|tojson(indent='x' * 8000000) }}")?.kind == .limit)
    #expect(try render("{{ 'ab'|replace('', '-') }}|{{ 'a\\nb'|indent(2) }}|{{ [1]|tojson(indent=1) }}") == "-a-b-|a\n  b|[\n 1\n]")
}

@Test func workBudgetBoundsLoopsThatBuildOrScanBytes() throws {
    // Each iteration is within the step budget and every string within the size limit, but the total
    // bytes built or scanned grow quadratically: the work budget stops them.
    let sources = [
        "{% set ns = namespace(s='') %}{% for i in range(900000) %}{% set ns.s = ns.s ~ 'x' %}{% endfor %}",
        "{% set ns = namespace(l=[]) %}{% for i in range(900000) %}{% set ns.l = ns.l + [i] %}{% endfor %}",
        "{% for i in range(900000) %}{% set x = 'x' * 8000000 %}{% endfor %}",
        "{% set a = 'x' * 8000000 %}{% for i in range(900000) %}{% if 'y' in a %}{% endif %}{% endfor %}",
        "{% set a = ['x' * 8000000] %}{% for i in range(900000) %}{% if a == a %}{% endif %}{% endfor %}"
    ]
    var limits = ChatTemplate.Limits()
    limits.maxWorkBytes = 64 << 20
    for source in sources {
        let error = renderError(source, limits: limits)
        #expect(error?.kind == .limit && error?.message.contains("work budget") == true, "\(source): \(String(describing: error))")
    }
    // Output written counts too.
    limits.maxWorkBytes = 1000
    #expect(renderError("{% for i in range(100) %}0123456789abcdef{% endfor %}", limits: limits)?.kind == .limit)
}

@Test func searchesAreLinearTime() throws {
    // A naive search would take ~10^12 steps on these.
    #expect(try render("{{ ('a' * 4000000).find('a' * 2000000 ~ 'b') }}") == "-1")
    #expect(try render("{{ ('a' * 100000).rfind('a' * 50000) }}|{{ ('ab' * 1000).count('ab') }}") == "50000|1000")
    #expect(try render("{{ 'abcabc'.rfind('bc') }}|{{ 'abc'.rfind('') }}|{{ 'abc'.find('d') }}|{{ 'aab'.find('ab') }}") == "4|3|-1|1")
    #expect(
        try render("{{ 'a,b,,c'.split(',') }}|{{ 'hello'.startswith('he') }}|{{ 'hello'.endswith(('x', 'lo')) }}")
            == "['a', 'b', '', 'c']|True|True")
}

@Test func valuesCannotNestDeeperThanTheLimit() throws {
    // Loops carry values through namespaces; nesting one level per iteration would make comparison,
    // printing and deallocation recurse a million levels deep.
    for wrap in ["[ns.x]", "{'a': ns.x}", "[ns.x].copy", "{'a': ns.x}.items"] {
        let source = "{% set ns = namespace(x=1) %}{% for i in range(100000) %}{% set ns.x = \(wrap) %}{% endfor %}"
        #expect(renderError(source)?.kind == .limit, "\(wrap)")
    }
    let wrapped = String(repeating: "[", count: 90) + "x" + String(repeating: "]", count: 90)
    #expect(renderError("{% macro f(x, n) %}{% if n < 60 %}{{ f(\(wrapped), n + 1) }}{% endif %}{% endmacro %}{{ f(1, 0) }}")?.kind == .limit)
    // Deep contexts are refused rather than converted recursively.
    var deep: TemplateValue = 1
    for _ in 0..<1000 { deep = [deep] }
    #expect(renderError("{{ x|length }}", ["x": deep])?.kind == .limit)
    // Namespace chains (namespaces are references) are fine and released without deep recursion.
    let chain = "{% set ns = namespace(x=1) %}{% for i in range(200000) %}{% set ns.x = namespace(y=ns.x) %}{% endfor %}ok"
    #expect(try render(chain) == "ok")
}

@Test func selfReferencingNamespacesAreReleasedAfterARender() throws {
    // A namespace holding itself is a reference cycle; the renderer breaks such cycles afterwards.
    weak var leaked: NamespaceObject?
    do {
        let renderer = Renderer(limits: ChatTemplate.Limits(), now: Date(), timeZone: .current)
        let namespace = try renderer.makeNamespace([])
        namespace["me"] = .namespace(namespace)
        leaked = namespace
        renderer.releaseObjects(Scope(parent: nil))
    }
    #expect(leaked == nil)
    #expect(try render("{% set ns = namespace() %}{% set ns.me = ns %}{% macro m() %}x{% endmacro %}{{ m() }}") == "x")
}

private extension String {
    /// `count` copies of `item` joined by `self`.
    func join(repeating item: String, _ count: Int) -> String {
        Array(repeating: item, count: count).joined(separator: self)
    }
}

/// The repr of a string (printing a list) and `tojson` cost time linear in the string: appending to a
/// `String.UnicodeScalarView` copied the whole view per escape, so a long string of newlines took
/// quadratic time (a fuzzer timeout). Compared as a ratio in one process, not against a clock.
@Test func reprAndTojsonOfLongStringsAreLinear() throws {
    func cost(_ source: String, length: Int) throws -> Double {
        let context: [String: TemplateValue] = ["s": .string(String(repeating: "\n'\u{1}", count: length))]
        let template = try ChatTemplate(source)
        var best = Double.infinity
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try template.render(context)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start))
        }
        return best
    }
    for source in ["{{ [s] }}", "{{ s | tojson }}"] {
        let small = try cost(source, length: 20_000), large = try cost(source, length: 200_000)
        #expect(large / small < 30, "\(source): 10x the length cost \(large / small)x the time")
    }
}
