/// The metric definitions of `vllm bench serve` (`calculate_metrics` in vLLM's
/// `benchmarks/benchmark_serving.py` / `vllm/benchmarks/serve.py`), as pure functions of the
/// per-request records and the run's wall-clock duration.
///
/// - TTFT: per successful request, time from sending to the first chunk with text.
/// - TPOT: per successful request with more than one output token,
///   `(e2el − ttft) / (output_tokens − 1)`; requests with ≤ 1 token are left out of the TPOT
///   statistics but count as TPOT 0 for goodput.
/// - ITL: every gap between successive text chunks, pooled over all successful requests.
/// - E2EL: per successful request, time from sending to the last text chunk.
/// - Throughputs divide by the duration: completed requests, output tokens, input + output tokens
///   (of successful requests). Goodput: successful requests meeting every objective, per second.
public enum ServingMetrics {
    /// Time per output token of one request in seconds (0 for ≤ 1 output token, as vLLM's goodput uses).
    public static func timePerOutputToken(_ record: RequestRecord) -> Double {
        guard record.outputTokens > 1 else { return 0 }
        return (record.latency - record.timeToFirstToken) / Double(record.outputTokens - 1)
    }

    /// Whether a successful request meets every objective (each value ≤ its target).
    public static func meets(_ objectives: ServiceLevelObjectives, _ record: RequestRecord) -> Bool {
        guard record.success else { return false }
        if let ttft = objectives.ttftMilliseconds, record.timeToFirstToken * 1000 > ttft { return false }
        if let tpot = objectives.tpotMilliseconds, timePerOutputToken(record) * 1000 > tpot { return false }
        if let e2el = objectives.e2elMilliseconds, record.latency * 1000 > e2el { return false }
        return true
    }

    /// Computes the run's result from its records.
    public static func compute(
        records: [RequestRecord], duration: Double,
        objectives: ServiceLevelObjectives = ServiceLevelObjectives()
    ) -> ServingBenchmarkResult {
        let successful = records.filter(\.success)
        let totalInput = successful.reduce(0) { $0 + $1.promptTokens }
        let totalOutput = successful.reduce(0) { $0 + $1.outputTokens }
        let tpots = successful.filter { $0.outputTokens > 1 }.map(timePerOutputToken)
        let good = objectives.isEmpty ? nil : successful.filter { meets(objectives, $0) }.count
        let seconds = duration > 0 ? duration : .nan

        var errors: [String: Int] = [:]
        for record in records where !record.success {
            errors[record.error ?? "unknown error", default: 0] += 1
        }

        return ServingBenchmarkResult(
            completed: successful.count,
            failed: records.count - successful.count,
            duration: duration,
            totalInputTokens: totalInput,
            totalOutputTokens: totalOutput,
            requestThroughput: Double(successful.count) / seconds,
            outputThroughput: Double(totalOutput) / seconds,
            totalTokenThroughput: Double(totalInput + totalOutput) / seconds,
            requestGoodput: good.map { Double($0) / seconds },
            ttft: MetricStatistics(seconds: successful.map(\.timeToFirstToken)),
            tpot: MetricStatistics(seconds: tpots),
            itl: MetricStatistics(seconds: successful.flatMap(\.interTokenLatencies)),
            e2el: MetricStatistics(seconds: successful.map(\.latency)),
            errors: errors
        )
    }
}
