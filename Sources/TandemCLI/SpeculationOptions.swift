import ArgumentParser
import Engine
import Foundation
import Model
import ModelStore

/// Speculative decoding's options (`tandem serve`, `chat`, `generate`, `bench throughput`).
struct SpeculationOptions: ParsableArguments {
    @Option(help: "Speculative decoding: ngram (drafts from n-gram matches in the prompt and output, verified in the same step) or off.")
    var speculative = "ngram"

    @Option(help: "Smallest n-gram the drafter matches.")
    var specNgramMin = Speculation().ngramSizes.lowerBound

    @Option(help: "Largest n-gram the drafter matches (tried first).")
    var specNgramMax = Speculation().ngramSizes.upperBound

    @Option(help: "Drafts one sequence verifies per step at most.")
    var specMaxDrafts = Speculation().maxDraftTokens

    @Option(
        help: """
            What verifying costs, as fractions of a one-token step: DRAFT,TOKEN (for any drafts, and per token), \
            or auto (measured on first use of a model file and thread count, then kept in the model cache directory). \
            Drafting stops where it does not pay.
            """)
    var specCosts = "auto"

    func validate() throws {
        guard ["ngram", "off"].contains(speculative) else { throw ValidationError("--speculative must be ngram or off") }
        guard (1...16).contains(specNgramMin), (specNgramMin...16).contains(specNgramMax) else {
            throw ValidationError("--spec-ngram-min and --spec-ngram-max must satisfy 1 <= min <= max <= 16")
        }
        guard (1...64).contains(specMaxDrafts) else { throw ValidationError("--spec-max-drafts must be in 1...64") }
        guard specCosts == "auto" || costs != nil else {
            throw ValidationError("--spec-costs must be auto or two numbers >= 0, e.g. 0.1,0.3")
        }
    }

    /// The costs given as DRAFT,TOKEN; nil for auto (or a malformed value, which `validate` refuses).
    private var costs: (draft: Double, token: Double)? {
        let parts = specCosts.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, parts.allSatisfy({ $0.isFinite && $0 >= 0 }) else { return nil }
        return (parts[0], parts[1])
    }

    /// The speculative decoding settings for `model`, loaded from `path`; nil when it is off. With
    /// `--spec-costs auto` the costs are those measured earlier for the same file (path, size,
    /// modification time), thread count and build of tandem (its kernels set the costs), or measured
    /// now (a few decode steps) and kept.
    func speculation(for model: LlamaModel, path: String) throws -> Speculation? {
        guard speculative == "ngram" else { return nil }
        var s = Speculation()
        s.ngramSizes = specNgramMin...specNgramMax
        s.maxDraftTokens = specMaxDrafts
        if let costs {
            s.draftCost = costs.draft
            s.tokenCost = costs.token
            return s
        }
        let build = Bundle.main.executablePath.map { Self.stamp(of: $0) } ?? "?"
        let key = "\(path)|\(Self.stamp(of: path))|\(model.pool.threadCount)|\(build)"
        let store = DefaultModel.cacheDirectory.appendingPathComponent("speculation-costs.json")
        var known = (try? JSONDecoder().decode([String: [Double]].self, from: Data(contentsOf: store))) ?? [:]
        if let kept = known[key], kept.count == 2, kept.allSatisfy({ $0.isFinite && $0 >= 0 }) {
            s.draftCost = kept[0]
            s.tokenCost = kept[1]
            return s
        }
        try s.measureCosts(of: model)
        known[key] = [s.draftCost, s.tokenCost]
        try? FileManager.default.createDirectory(at: DefaultModel.cacheDirectory, withIntermediateDirectories: true)
        try? JSONEncoder().encode(known).write(to: store, options: .atomic)  // a cache: losing it costs a measurement
        return s
    }

    /// A file's size and modification time, `size|seconds`.
    private static func stamp(of path: String) -> String {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes?[.size] as? NSNumber)?.int64Value ?? 0
        let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return "\(size)|\(Int64(modified))"
    }
}
