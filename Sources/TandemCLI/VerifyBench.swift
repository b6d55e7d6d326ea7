import ArgumentParser
import Engine
import Foundation

/// `tandem bench verify`: what verifying drafts costs. One sequence's forward pass with k new
/// tokens (its input and k - 1 drafts) after a context, against the one-token decode step, and
/// the speedup that acceptance rates would give at each k.
struct VerifyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Measure a verify step of k tokens against a one-token decode step (speculative decoding's cost)."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Positions already in the KV cache before the measured steps.")
    var context = 256

    @Option(help: "Largest token count k measured (1...k).")
    var maxTokens = 16

    @Option(help: "Seconds to repeat each measurement at least.")
    var seconds = 0.5

    @Option(help: "Per-draft acceptance rates for the speedup columns, comma separated.")
    var acceptance = "0.5,0.7,0.9"

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        guard context >= 1, (1...64).contains(maxTokens), seconds > 0 else {
            throw CLIError("--context must be >= 1, --max-tokens in 1...64, --seconds > 0")
        }
        let rates = acceptance.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard rates.allSatisfy({ (0..<1).contains($0) }) else { throw CLIError("--acceptance rates must be in [0, 1)") }
        let file = try modelOptions.openFile()
        let model = try modelOptions.loadModel(file)
        guard context + maxTokens <= model.configuration.contextLength else {
            throw CLIError("--context + --max-tokens exceeds the model's context of \(model.configuration.contextLength)")
        }
        let timer = try VerifyStepTimer(model: model, context: context, maxTokens: maxTokens)
        var milliseconds: [Double] = []
        for k in 1...maxTokens {
            _ = try timer.seconds(tokens: k)  // warm-up
            var runs = 0
            var elapsed = 0.0
            repeat {
                elapsed += try timer.seconds(tokens: k)
                runs += 1
            } while elapsed < seconds
            milliseconds.append(elapsed * 1e3 / Double(runs))
        }
        let one = milliseconds[0]
        /// Expected tokens of a step verifying k - 1 drafts accepted at `rate` each: 1 + rate + ... + rate^(k-1).
        func speedup(_ k: Int, _ rate: Double) -> Double { (1 - pow(rate, Double(k))) / (1 - rate) * one / milliseconds[k - 1] }
        if json {
            let rows = (1...maxTokens).map { k in
                let gains = rates.map { String(format: "%.3f", speedup(k, $0)) }.joined(separator: ", ")
                return String(
                    format: #"{"k": %d, "ms": %.4f, "relative": %.4f, "speedup": [%@]}"#, k, milliseconds[k - 1], milliseconds[k - 1] / one, gains)
            }
            print(
                String(
                    format: #"{"context": %d, "threads": %d, "acceptance": [%@], "steps": ["#, context, model.pool.threadCount,
                    rates.map { String($0) }.joined(separator: ", ")) + rows.joined(separator: ", ") + "]}")
            return
        }
        let header = rates.map { String(format: "  speedup@%.2f", $0) }.joined()
        print("    k   ms/step  vs k=1  cost/token" + header)
        for k in 1...maxTokens {
            let ms = milliseconds[k - 1]
            let cost = k > 1 ? String(format: "%10.3f", (ms / one - 1) / Double(k - 1)) : "         -"
            let gains = rates.map { String(format: "%15.2f", speedup(k, $0)) }.joined()
            print(String(format: "%5d  %8.3f  %6.2f  ", k, ms, ms / one) + cost + gains)
        }
        print(
            String(
                format:
                    "context %d, %d threads; cost/token: what each token beyond the first adds, as a fraction of the one-token step (--spec-token-cost)",
                context, model.pool.threadCount))
    }
}
