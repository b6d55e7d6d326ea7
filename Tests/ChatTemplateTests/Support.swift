import Foundation
import Testing

@testable import ChatTemplate

/// Golden fixtures written by scripts/fixtures_templates.py (Python Jinja2 configured like transformers).
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/templates")

    struct Case {
        let context: [String: TemplateValue]
        let expected: String?
        let error: String?
        let errorType: String?
    }

    struct Template {
        let name: String
        let source: String
        let cases: [Case]
    }

    static func load(_ file: String) throws -> [Template] {
        let text = try String(contentsOf: directory.appendingPathComponent(file + ".json"), encoding: .utf8)
        let json = try TemplateValue(json: text)
        if case .array(let items) = json { return try items.map(template) }
        return [try template(json)]
    }

    private static func template(_ value: TemplateValue) throws -> Template {
        guard case .dictionary(let d) = value, case .string(let name)? = d["name"],
            case .string(let source)? = d["template"], case .array(let cases)? = d["cases"]
        else {
            throw TemplateError(.type, "bad fixture")
        }
        return Template(
            name: name, source: source,
            cases: try cases.map { c in
                guard case .dictionary(let cd) = c, case .dictionary(let ctx)? = cd["context"] else {
                    throw TemplateError(.type, "bad fixture case")
                }
                var context: [String: TemplateValue] = [:]
                for (k, v) in ctx.entries { context[k] = v }
                func string(_ key: String) -> String? {
                    if case .string(let s)? = cd[key] { return s }
                    return nil
                }
                return Case(context: context, expected: string("expected"), error: string("error"), errorType: string("error_type"))
            })
    }

    /// The instant the fixture script pins `strftime_now` to (naive 2024-07-26 13:05:09).
    static let fixedDate: Date = {
        var c = DateComponents()
        (c.year, c.month, c.day, c.hour, c.minute, c.second) = (2024, 7, 26, 13, 5, 9)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        return calendar.date(from: c) ?? Date(timeIntervalSince1970: 0)
    }()

    /// Renders one case; returns a description of the mismatch or nil.
    static func check(_ template: Template, _ testCase: Case, index: Int) -> String? {
        do {
            var compiled = try ChatTemplate(template.source)
            compiled.fixedDate = fixedDate
            compiled.timeZone = TimeZone(identifier: "UTC") ?? .current
            let output = try compiled.render(testCase.context)
            if let expected = testCase.expected {
                return output == expected && output.unicodeScalars.elementsEqual(expected.unicodeScalars)
                    ? nil
                    : "\(template.name)#\(index): expected\n\(expected.debugDescription)\ngot\n\(output.debugDescription)"
            }
            return
                "\(template.name)#\(index): expected error \(testCase.errorType ?? "") '\(testCase.error ?? "")', got output \(output.debugDescription)"
        } catch let error as TemplateError {
            guard let expectedError = testCase.error else {
                return "\(template.name)#\(index): unexpected error \(error)"
            }
            // raise_exception text must match exactly; other Jinja2 errors must map to the same kind.
            switch testCase.errorType {
            case "TemplateError":
                return error.kind == .raised && error.message == expectedError
                    ? nil
                    : "\(template.name)#\(index): expected raised '\(expectedError)', got \(error)"
            case "UndefinedError":
                return error.kind == .undefined ? nil : "\(template.name)#\(index): expected undefined error, got \(error)"
            case "SecurityError":
                return error.kind == .security && error.message == expectedError
                    ? nil
                    : "\(template.name)#\(index): expected security error, got \(error)"
            default:
                return error.kind == .type ? nil : "\(template.name)#\(index): expected type error, got \(error)"
            }
        } catch {
            return "\(template.name)#\(index): unexpected error \(error)"
        }
    }
}

/// Parses and renders `source`; returns the TemplateError it ended in, or nil when it rendered (any
/// other error is recorded as a failure: templates fail only with TemplateError).
func renderError(
    _ source: String, _ context: [String: TemplateValue] = [:],
    limits: ChatTemplate.Limits = ChatTemplate.Limits()
) -> TemplateError? {
    do {
        _ = try ChatTemplate(source, limits: limits).render(context)
        return nil
    } catch let error as TemplateError {
        return error
    } catch {
        Issue.record("not a TemplateError: \(error)")
        return nil
    }
}
