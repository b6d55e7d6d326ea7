import ArgumentParser
import Engine

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
        help:
            "What one more token costs a one-token decode step, as a fraction of it (tandem bench verify measures it); drafting stops where it does not pay."
    )
    var specTokenCost = Speculation().tokenCost

    func validate() throws {
        guard ["ngram", "off"].contains(speculative) else { throw ValidationError("--speculative must be ngram or off") }
        guard (1...16).contains(specNgramMin), (specNgramMin...16).contains(specNgramMax) else {
            throw ValidationError("--spec-ngram-min and --spec-ngram-max must satisfy 1 <= min <= max <= 16")
        }
        guard (1...64).contains(specMaxDrafts) else { throw ValidationError("--spec-max-drafts must be in 1...64") }
        guard specTokenCost.isFinite, specTokenCost >= 0 else { throw ValidationError("--spec-token-cost must be >= 0") }
    }

    /// The speculative decoding settings, nil when it is off.
    var speculation: Speculation? {
        guard speculative == "ngram" else { return nil }
        var s = Speculation()
        s.ngramSizes = specNgramMin...specNgramMax
        s.maxDraftTokens = specMaxDrafts
        s.tokenCost = specTokenCost
        return s
    }
}
