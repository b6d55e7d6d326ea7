import Foundation

/// The outcome of a serving benchmark, with vLLM's result keys for JSON and its
/// "Serving Benchmark Result" table for people.
public struct ServingBenchmarkResult: Sendable, Equatable {
    /// Requests that streamed at least one token and finished without error.
    public var completed: Int
    /// Requests that failed (HTTP error, broken stream, no token, malformed data).
    public var failed: Int
    /// Wall-clock seconds from the first request's scheduled start until the last one ended.
    public var duration: Double
    /// Prompt tokens of the completed requests.
    public var totalInputTokens: Int
    /// Generated tokens of the completed requests.
    public var totalOutputTokens: Int
    /// Completed requests per second.
    public var requestThroughput: Double
    /// Generated tokens per second.
    public var outputThroughput: Double
    /// Prompt plus generated tokens per second.
    public var totalTokenThroughput: Double
    /// Completed requests meeting every objective, per second; `nil` without objectives.
    public var requestGoodput: Double?
    /// Time to first token.
    public var ttft: MetricStatistics
    /// Time per output token, excluding the first.
    public var tpot: MetricStatistics
    /// Inter-token latency.
    public var itl: MetricStatistics
    /// End-to-end latency.
    public var e2el: MetricStatistics
    /// Failure messages and how often each occurred.
    public var errors: [String: Int]
    /// The traffic settings, echoed into the output (`nil`/infinite when unset).
    public var requestRate: Double = .infinity
    /// Gamma shape of the arrivals.
    public var burstiness: Double = 1
    /// Most requests in flight at once, if limited.
    public var maxConcurrency: Int?

    /// The result as ordered (key, JSON value) pairs, with vLLM's key names.
    public var jsonFields: [(String, String)] {
        var fields: [(String, String)] = [
            ("completed", String(completed)),
            ("failed", String(failed)),
            ("duration", Self.json(duration)),
            ("total_input_tokens", String(totalInputTokens)),
            ("total_output_tokens", String(totalOutputTokens)),
            ("request_throughput", Self.json(requestThroughput)),
            ("output_throughput", Self.json(outputThroughput)),
            ("total_token_throughput", Self.json(totalTokenThroughput))
        ]
        if let requestGoodput { fields.append(("request_goodput", Self.json(requestGoodput))) }
        for (name, statistics) in [("ttft", ttft), ("tpot", tpot), ("itl", itl), ("e2el", e2el)] {
            fields.append(("mean_\(name)_ms", Self.json(statistics.mean)))
            fields.append(("median_\(name)_ms", Self.json(statistics.median)))
            fields.append(("std_\(name)_ms", Self.json(statistics.std)))
            fields.append(("p99_\(name)_ms", Self.json(statistics.p99)))
        }
        fields.append(("request_rate", requestRate.isFinite ? Self.json(requestRate) : "\"inf\""))
        fields.append(("burstiness", Self.json(burstiness)))
        fields.append(("max_concurrency", maxConcurrency.map(String.init) ?? "null"))
        return fields
    }

    /// One JSON object on one line, keys in vLLM's order.
    public var json: String {
        "{" + jsonFields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }

    /// The human-readable table, laid out like vLLM's "Serving Benchmark Result" block.
    public var table: String {
        var lines: [String] = []
        func header(_ title: String, fill: Character) {
            let padding = max(50 - title.count, 0)
            lines.append(
                String(repeating: fill, count: padding / 2) + title
                    + String(repeating: fill, count: padding - padding / 2))
        }
        func row(_ label: String, _ value: String) {
            lines.append(label.padding(toLength: max(40, label.count), withPad: " ", startingAt: 0) + " " + value)
        }
        func number(_ value: Double) -> String { String(format: "%.2f", value) }

        header(" Serving Benchmark Result ", fill: "=")
        row("Successful requests:", String(completed))
        row("Failed requests:", String(failed))
        if let maxConcurrency { row("Maximum request concurrency:", String(maxConcurrency)) }
        row("Benchmark duration (s):", number(duration))
        row("Total input tokens:", String(totalInputTokens))
        row("Total generated tokens:", String(totalOutputTokens))
        row("Request throughput (req/s):", number(requestThroughput))
        if let requestGoodput { row("Request goodput (req/s):", number(requestGoodput)) }
        row("Output token throughput (tok/s):", number(outputThroughput))
        row("Total Token throughput (tok/s):", number(totalTokenThroughput))
        for (name, title, statistics) in [
            ("TTFT", "Time to First Token", ttft),
            ("TPOT", "Time per Output Token (excl. 1st token)", tpot),
            ("ITL", "Inter-token Latency", itl),
            ("E2EL", "End-to-end Latency", e2el)
        ] {
            header(title, fill: "-")
            row("Mean \(name) (ms):", number(statistics.mean))
            row("Median \(name) (ms):", number(statistics.median))
            row("P99 \(name) (ms):", number(statistics.p99))
        }
        lines.append(String(repeating: "=", count: 50))
        return lines.joined(separator: "\n")
    }

    private static func json(_ value: Double) -> String {
        value.isFinite ? "\(value)" : "null"
    }
}
