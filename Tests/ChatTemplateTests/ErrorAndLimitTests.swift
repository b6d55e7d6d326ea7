import Foundation
import Testing

@testable import ChatTemplate

private func syntaxError(_ source: String) -> TemplateError? {
    do {
        _ = try ChatTemplate(source)
        return nil
    } catch let error as TemplateError {
        return error
    } catch {
        return nil
    }
}

@Test func parseErrorsCarryLocation() throws {
    let unclosed = try #require(syntaxError("line one\n{% if x %}\nbody"))
    #expect(unclosed.kind == .syntax)
    #expect(unclosed.message.contains("endif"))

    let badExpression = try #require(syntaxError("ok\n  {{ 1 + }}"))
    #expect(badExpression.kind == .syntax)
    #expect(badExpression.line == 2)
    #expect(badExpression.column == 10)  // the unexpected '}}'

    let unclosedVariable = try #require(syntaxError("{{ name "))
    #expect(unclosedVariable.kind == .syntax && unclosedVariable.line == 1 && unclosedVariable.column == 1)

    for source in [
        "{% endfor %}", "{% for x in %}{% endfor %}", "{% frobnicate %}", "{{ 'unterminated }}",
        "{# never closed", "{% if %}{% endif %}", "{{ a[ }}", "{{ {'a' 1} }}", "{% set %}",
        "{% macro m( %}{% endmacro %}", "{{ x | }}", "{{ 'a' is }}", "{% raw %}no end", "{{ 1 $ 2 }}",
        "{% for x in y %}{% else %}{% endif %}", "{{ 99999999999999999999999 }}"
    ] {
        let error = syntaxError(source)
        #expect(error?.kind == .syntax, "\(source) -> \(String(describing: error))")
    }
}

@Test func raiseExceptionCarriesMessageAndLine() throws {
    let error = try #require(renderError("a\n{% if true %}\n{{ raise_exception('Bad roles: ' ~ n) }}{% endif %}", ["n": 3]))
    #expect(error.kind == .raised)
    #expect(error.message == "Bad roles: 3")
    #expect(error.description == "Bad roles: 3")
    #expect(error.line == 3)
}

@Test func resourceLimitsStopHostileTemplates() throws {
    // A billion-element range is refused before it is materialized.
    #expect(renderError("{% for i in range(10**9) %}x{% endfor %}")?.kind == .limit)
    // Nested loops run out of the step budget.
    var small = ChatTemplate.Limits()
    small.maxSteps = 10_000
    #expect(renderError("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", limits: small)?.kind == .limit)
    // Output and string growth are capped.
    var tiny = ChatTemplate.Limits()
    tiny.maxOutputBytes = 1000
    #expect(renderError("{% for i in range(100) %}0123456789abcdef{% endfor %}", limits: tiny)?.kind == .limit)
    #expect(renderError("{{ 'a' * 10**9 }}")?.kind == .limit)
    #expect(renderError("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}")?.kind == .limit)
    #expect(renderError("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}")?.kind == .limit)
    // Unbounded and exponential macro recursion.
    #expect(renderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")?.kind == .limit)
    #expect(
        renderError("{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}", limits: small)?.kind == .limit)
    // Integer overflow is an error, not a trap.
    #expect(renderError("{{ 2 ** 200 }}")?.kind == .limit)
    #expect(renderError("{{ 9223372036854775807 + 1 }}")?.kind == .limit)
    // A namespace that contains itself cannot be printed forever.
    #expect(renderError("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}")?.kind == .limit)
    // Deep syntactic nesting is rejected at parse time instead of overflowing the stack.
    let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
    #expect(syntaxError("{{ \(deep) }}")?.kind == .limit)
    let deepBlocks = String(repeating: "{% if true %}", count: 5000) + String(repeating: "{% endif %}", count: 5000)
    #expect(syntaxError(deepBlocks)?.kind == .limit)
    // Moderate nesting still works.
    let moderate = String(repeating: "(", count: 50) + "1" + String(repeating: ")", count: 50)
    #expect(try ChatTemplate("{{ \(moderate) }}").render([:]) == "1")
}

@Test func truncatedAndMutatedTemplatesNeverCrash() throws {
    let source = try Fixtures.load("llama3_1")[0].source
    let messages: [TemplateValue] = [["role": "system", "content": "s"], ["role": "user", "content": "u"]]
    let scalars = Array(source.unicodeScalars)
    var outcomes = (rendered: 0, failed: 0)
    var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
    for cut in stride(from: 0, to: scalars.count, by: 37) {
        var variant = Array(scalars[0..<cut])
        // Also splice in a random byte-range from elsewhere to produce odd token sequences.
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        let start = Int(seed >> 33) % scalars.count
        variant += scalars[start..<min(scalars.count, start + 25)]
        let text = String(String.UnicodeScalarView(variant))
        do {
            _ = try ChatTemplate(text).render(messages: messages, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
            outcomes.rendered += 1
        } catch is TemplateError {
            outcomes.failed += 1
        }
    }
    #expect(outcomes.rendered > 0)
    #expect(outcomes.failed > 0)
}
