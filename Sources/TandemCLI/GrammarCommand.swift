import ArgumentParser
import Engine
import Foundation
import JSON
import Randomness

/// `tandem grammar`: compiles output constraints and prints random documents of each, and whether
/// given texts match — so that an independent validator (Python's `jsonschema`, `re`) can check
/// the compiled grammars (scripts/check_grammar.py).
struct GrammarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grammar",
        abstract: "Compile structured-output constraints; sample documents and check texts (JSON lines in and out).",
        discussion: """
            Each input line is {"id": ..., "kind": "json_schema" | "json_object" | "regex" | "choice" | "gbnf", \
            "value": ..., "texts": [...]}. Each output line has the id, "error" (when the constraint does not \
            compile), "samples" (random accepted texts), "abandoned" (samples that did not end within the byte \
            limit) and "accepts" (one boolean per text).
            """
    )

    @Option(help: "JSON-lines file of constraints ('-': standard input).")
    var corpus: String

    @Option(help: "Random documents per constraint.")
    var samples = 10

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    func run() throws {
        let data = corpus == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: corpus))
        var random = Xoshiro256StarStar(seed: seed)
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            guard let entry = try? JSONValue.parse(Array(line)) else { throw CLIError("a corpus line is not JSON") }
            var result: [(String, JSONValue)] = [("id", entry["id"] ?? .null)]
            do {
                let grammar = try Self.constraint(entry).compile()
                var texts: [JSONValue] = []
                var abandoned = 0
                for _ in 0..<samples {
                    if let text = GrammarSampler.sample(grammar, random: &random) {
                        texts.append(.string(String(decoding: text, as: UTF8.self)))
                    } else {
                        abandoned += 1
                    }
                }
                result.append(("samples", .array(texts)))
                result.append(("abandoned", .int(abandoned)))
                let checks = (entry["texts"]?.array ?? []).map { JSONValue.bool(GrammarSampler.accepts(grammar, Array(($0.string ?? "").utf8))) }
                result.append(("accepts", .array(checks)))
            } catch {
                result.append(("error", .string(error.description)))
            }
            print(JSONValue.object(result).serialized)
        }
    }

    private static func constraint(_ entry: JSONValue) throws(GrammarError) -> OutputConstraint {
        let value = entry["value"] ?? .null
        switch entry["kind"]?.string {
        case "json_schema": return .jsonSchema(value)
        case "json_object": return .jsonObject
        case "regex": return .regex(value.string ?? "")
        case "gbnf": return .grammar(value.string ?? "")
        case "choice": return .choice((value.array ?? []).compactMap(\.string))
        default: throw GrammarError("unknown kind")
        }
    }
}
