import ArgumentParser
import Engine
import Foundation
import JSON
import Randomness

/// `tandem bench grammar`: what structured output costs per token — compile time, and the time of
/// each token mask while random documents are generated over the model's vocabulary (optionally
/// grown to a larger size, e.g. 152k as Qwen's).
struct GrammarBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grammar",
        abstract: "Structured output: grammar compile time and token-mask time per token (p50/p99) over the vocabulary."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "A JSON Schema file (default: a realistic nested schema).")
    var schema: String?

    @Option(help: "Grow the vocabulary to this many tokens with tokens made of two real ones (0: the model's own).")
    var vocabularySize = 0

    @Option(help: "Documents to generate.")
    var documents = 20

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    @Flag(help: "Print one JSON object.")
    var json = false

    static let defaultSchema: JSONValue = [
        "type": "object",
        "properties": [
            "name": ["type": "string", "maxLength": 40], "age": ["type": "integer", "minimum": 0, "maximum": 130],
            "email": ["type": "string", "format": "email"],
            "address": [
                "type": "object",
                "properties": ["street": ["type": "string"], "city": ["type": "string"], "zip": ["type": "string", "pattern": "^[0-9]{5}$"]],
                "required": ["street", "city"], "additionalProperties": false
            ],
            "tags": ["type": "array", "items": ["type": "string", "maxLength": 12], "maxItems": 5],
            "role": ["enum": ["admin", "user", "guest"]], "score": ["type": "number"], "active": ["type": "boolean"]
        ],
        "required": ["name", "age", "role", "active"], "additionalProperties": false
    ]

    func run() throws {
        let tokenizer = try modelOptions.loadTokenizer(try modelOptions.openFile())
        var schemaValue = Self.defaultSchema
        if let schema {
            let data = try Data(contentsOf: URL(fileURLWithPath: schema))
            guard let parsed = try? JSONValue.parse(Array(data)) else { throw CLIError("\(schema) is not JSON") }
            schemaValue = parsed
        }
        var random = Xoshiro256StarStar(seed: seed)
        var vocabulary = (0..<Int32(tokenizer.vocabularySize)).map { tokenizer.pieceBytes(of: $0, skipSpecial: true) }
        let real = vocabulary.filter { !$0.isEmpty }
        while vocabulary.count < vocabularySize, let a = real.randomElement(using: &random), let b = real.randomElement(using: &random) {
            vocabulary.append(a + b)
        }
        let clock = ContinuousClock()
        var compileTimes: [Double] = []
        var grammar: Grammar?
        for _ in 0..<5 {
            let start = clock.now
            do { grammar = try OutputConstraint.jsonSchema(schemaValue).compile() } catch { throw CLIError("\(error)") }
            compileTimes.append(Self.microseconds(clock.now - start))
        }
        guard let grammar else { return }
        let trieStart = clock.now
        let trie = TokenTrie(tokenBytes: vocabulary)
        let trieTime = Self.microseconds(clock.now - trieStart)

        // Fresh runtimes per document would hide the cache; one runtime for all, as the engine keeps.
        let runtime = ConstraintRuntime(grammar: grammar, trie: trie)
        var first: [Double] = []
        var all: [Double] = []
        var tokens = 0
        for _ in 0..<documents {
            let matcher = runtime.makeMatcher()
            for step in 0..<512 {
                let start = clock.now
                let mask = runtime.mask(for: matcher)
                let elapsed = Self.microseconds(clock.now - start)
                all.append(elapsed)
                if first.count < 200 && step < 200 { first.append(elapsed) }
                tokens += 1
                if matcher.isAccepting && Double.random(in: 0..<1, using: &random) < 0.5 { break }
                let allowed = (0..<mask.count).filter(mask.contains)
                guard let token = allowed.randomElement(using: &random) else { break }
                matcher.accept(vocabulary[token])
            }
        }
        let cache = runtime.cacheStatistics
        let report: [(String, JSONValue)] = [
            ("vocabulary", .int(vocabulary.count)), ("trie_nodes", .int(trie.nodeCount)), ("trie_build_ms", .double(trieTime / 1000)),
            ("compile_us_median", .double(Self.percentile(compileTimes, 0.5))), ("documents", .int(documents)), ("tokens", .int(tokens)),
            ("mask_us_p50", .double(Self.percentile(all, 0.5))), ("mask_us_p99", .double(Self.percentile(all, 0.99))),
            ("mask_us_mean", .double(all.reduce(0, +) / Double(max(all.count, 1)))),
            ("first_document_mask_us_mean", .double(first.reduce(0, +) / Double(max(first.count, 1)))),
            ("cache_hit_rate", .double(Double(cache.hits) / Double(max(cache.hits + cache.misses, 1))))
        ]
        if json {
            print(JSONValue.object(report).serialized)
        } else {
            for (key, value) in report { print("\(key.padding(toLength: 28, withPad: " ", startingAt: 0)) \(value.serialized)") }
        }
    }

    private static func microseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
    }

    private static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(Int(Double(sorted.count - 1) * p), sorted.count - 1)]
    }
}
