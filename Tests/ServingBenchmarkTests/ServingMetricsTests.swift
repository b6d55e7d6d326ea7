import Testing

@testable import ServingBenchmark

/// Hand-made records with answers worked out by hand (and percentiles checked against numpy).
struct ServingMetricsTests {
    let records = [
        RequestRecord(
            success: true, promptTokens: 10, outputTokens: 5, timeToFirstToken: 0.1,
            interTokenLatencies: [0.05, 0.05, 0.05, 0.05], latency: 0.3),
        RequestRecord(
            success: true, promptTokens: 20, outputTokens: 3, timeToFirstToken: 0.2,
            interTokenLatencies: [0.1, 0.3], latency: 0.6),
        RequestRecord(
            success: true, promptTokens: 30, outputTokens: 1, timeToFirstToken: 0.5,
            interTokenLatencies: [], latency: 0.5),
        .failure("HTTP 500", promptTokens: 40)
    ]

    @Test func percentileMatchesNumpyLinear() {
        // np.percentile(x, p) for these x, printed by numpy 2.4.
        let x = [0.012, 0.250, 0.031, 0.090, 0.044, 0.007, 0.180, 0.061, 0.075, 0.120, 0.033].sorted()
        let expected: [(Double, Double)] = [
            (0, 0.007), (10, 0.012), (25, 0.032), (50, 0.061), (90, 0.18),
            (99, 0.24300000000000002), (100, 0.25)
        ]
        for (p, value) in expected {
            #expect(abs(MetricStatistics.percentile(sorted: x, p) - value) < 1e-12, "p\(p)")
        }
        #expect(abs(MetricStatistics.percentile(sorted: [1, 5], 99) - 4.96) < 1e-12)
        #expect(MetricStatistics.percentile(sorted: [], 50) == 0)
    }

    @Test func statisticsMatchNumpy() {
        let x = [0.012, 0.250, 0.031, 0.090, 0.044, 0.007, 0.180, 0.061, 0.075, 0.120, 0.033]
        let statistics = MetricStatistics(seconds: x)
        #expect(abs(statistics.mean - 82.09090909090909) < 1e-9)
        #expect(abs(statistics.std - 71.85649150842828) < 1e-9)  // np.std, ddof=0
        #expect(abs(statistics.median - 61) < 1e-9)
        #expect(abs(statistics.p99 - 243) < 1e-9)
        #expect(MetricStatistics(seconds: []) == MetricStatistics(mean: 0, median: 0, std: 0, p99: 0))
    }

    @Test func countsAndThroughputs() {
        let result = ServingMetrics.compute(records: records, duration: 2)
        #expect(result.completed == 3)
        #expect(result.failed == 1)
        #expect(result.totalInputTokens == 60)  // failed requests' prompts are not counted
        #expect(result.totalOutputTokens == 9)
        #expect(abs(result.requestThroughput - 1.5) < 1e-12)
        #expect(abs(result.outputThroughput - 4.5) < 1e-12)
        #expect(abs(result.totalTokenThroughput - 34.5) < 1e-12)
        #expect(result.requestGoodput == nil)
        #expect(result.errors == ["HTTP 500": 1])
    }

    @Test func latencyMetrics() {
        let result = ServingMetrics.compute(records: records, duration: 2)
        // TTFT over 0.1, 0.2, 0.5 s.
        #expect(abs(result.ttft.mean - 800.0 / 3) < 1e-9)
        #expect(abs(result.ttft.median - 200) < 1e-9)
        // TPOT = (e2el − ttft)/(n − 1): 0.2/4 = 0.05 and 0.4/2 = 0.2; the 1-token request is left out.
        #expect(abs(result.tpot.mean - 125) < 1e-9)
        #expect(abs(result.tpot.std - 75) < 1e-9)
        #expect(abs(result.tpot.p99 - 198.5) < 1e-9)
        // ITL pooled over requests: 0.05 ×4, 0.1, 0.3.
        #expect(abs(result.itl.mean - 100) < 1e-9)
        #expect(abs(result.itl.median - 50) < 1e-9)
        #expect(abs(result.itl.p99 - 290) < 1e-9)
        // E2EL over 0.3, 0.6, 0.5.
        #expect(abs(result.e2el.mean - 1400.0 / 3) < 1e-9)
        #expect(abs(result.e2el.median - 500) < 1e-9)
    }

    @Test func goodputCountsRequestsMeetingEveryObjective() {
        func goodput(_ objectives: ServiceLevelObjectives) -> Double? {
            ServingMetrics.compute(records: records, duration: 2, objectives: objectives).requestGoodput
        }
        // ttft ≤ 250 and tpot ≤ 100: only the first request.
        #expect(goodput(ServiceLevelObjectives(ttftMilliseconds: 250, tpotMilliseconds: 100)) == 0.5)
        // tpot ≤ 100 alone: the first, and the 1-token request (TPOT 0 for goodput, as vLLM).
        #expect(goodput(ServiceLevelObjectives(tpotMilliseconds: 100)) == 1.0)
        // e2el ≤ 500 (inclusive): the first and third.
        #expect(goodput(ServiceLevelObjectives(e2elMilliseconds: 500)) == 1.0)
        #expect(goodput(ServiceLevelObjectives(ttftMilliseconds: 1)) == 0)
    }

    @Test func parsesGoodputArguments() throws {
        let objectives = try ServiceLevelObjectives(parsing: ["ttft:500", "tpot:50.5", "e2el:2000"])
        #expect(objectives == ServiceLevelObjectives(ttftMilliseconds: 500, tpotMilliseconds: 50.5, e2elMilliseconds: 2000))
        #expect(throws: ServingBenchmarkError.self) { try ServiceLevelObjectives(parsing: ["itl:5"]) }
        #expect(throws: ServingBenchmarkError.self) { try ServiceLevelObjectives(parsing: ["ttft:-1"]) }
        #expect(throws: ServingBenchmarkError.self) { try ServiceLevelObjectives(parsing: ["ttft"]) }
    }

    @Test func outputUsesVLLMKeysAndLayout() {
        var result = ServingMetrics.compute(
            records: records, duration: 2,
            objectives: ServiceLevelObjectives(ttftMilliseconds: 250))
        result.maxConcurrency = 4
        let keys = result.jsonFields.map(\.0)
        for key in [
            "completed", "failed", "duration", "total_input_tokens", "total_output_tokens",
            "request_throughput", "output_throughput", "total_token_throughput", "request_goodput",
            "mean_ttft_ms", "median_ttft_ms", "std_ttft_ms", "p99_ttft_ms",
            "mean_tpot_ms", "median_tpot_ms", "std_tpot_ms", "p99_tpot_ms",
            "mean_itl_ms", "median_itl_ms", "std_itl_ms", "p99_itl_ms",
            "mean_e2el_ms", "median_e2el_ms", "std_e2el_ms", "p99_e2el_ms"
        ] {
            #expect(keys.contains(key), "\(key)")
        }
        #expect(result.json.hasPrefix("{\"completed\": 3, \"failed\": 1, \"duration\": 2.0,"))
        #expect(result.json.contains("\"request_rate\": \"inf\""))
        let lines = result.table.split(separator: "\n").map(String.init)
        #expect(lines.first == "============ Serving Benchmark Result ============")
        #expect(lines.contains("Successful requests:                     3"))
        #expect(lines.contains("Request goodput (req/s):                 1.00"))
        #expect(lines.contains("---------------Time to First Token----------------"))
        #expect(lines.contains("-----Time per Output Token (excl. 1st token)------"))
        #expect(lines.contains("Mean TPOT (ms):                          125.00"))
        #expect(lines.last == String(repeating: "=", count: 50))
    }
}
