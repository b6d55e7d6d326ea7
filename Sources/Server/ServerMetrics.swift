import CoreMetrics
import Engine
import Foundation
import Metrics
import NIOConcurrencyHelpers
import Prometheus

/// The Prometheus metrics of one server, under vLLM's names (so that routers that read vLLM's
/// metrics work unchanged) plus Tandem's own, each labelled with `model_name`.
///
/// Each server has its own registry (no global bootstrap), so several servers can run in one
/// process. Engine counters and gauges are refreshed from `Engine.currentStatistics` at scrape time;
/// per-request histograms and counters are recorded by the handlers as requests finish.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let modelName: String
    private let factory: PrometheusMetricsFactory

    private let running: CoreMetrics.Gauge
    private let waiting: CoreMetrics.Gauge
    private let kvCacheUsage: CoreMetrics.Gauge
    /// The same value under vLLM's older name, which the Gateway API Inference Extension's
    /// model-server protocol and older endpoint pickers read.
    private let gpuCacheUsage: CoreMetrics.Gauge
    /// vLLM's LoRA gauge with no adapters (the endpoint picker's LoRA-affinity scorer reads it);
    /// its value is the time of the scrape, as in vLLM.
    private let loraRequestsInfo: CoreMetrics.Gauge
    /// The local layers' pool of a split cache (Gemma 2/3); 0 without one.
    private let localKVCacheUsage: CoreMetrics.Gauge
    private let promptTokens: CoreMetrics.Counter
    private let generationTokens: CoreMetrics.Counter
    private let prefixQueries: CoreMetrics.Counter
    private let prefixHits: CoreMetrics.Counter
    private let deviceBusy: CoreMetrics.FloatingPointCounter
    private let deviceIdle: CoreMetrics.FloatingPointCounter
    private let steps: CoreMetrics.Counter
    private let preemptions: CoreMetrics.Counter
    private let specDrafts: CoreMetrics.Counter
    private let specDraftTokens: CoreMetrics.Counter
    private let specAcceptedTokens: CoreMetrics.Counter
    /// Accepted drafts per draft position (vLLM's `spec_decode_num_accepted_tokens_per_pos`),
    /// created as positions appear.
    private let specAcceptedPerPosition = NIOLockedValueBox<[CoreMetrics.Counter]>([])
    private let success: [String: CoreMetrics.Counter]
    private let timeToFirstToken: CoreMetrics.Recorder
    private let interTokenLatency: CoreMetrics.Recorder
    private let endToEndLatency: CoreMetrics.Recorder
    private let queueTime: CoreMetrics.Recorder
    /// Engine statistics as of the last scrape (counters are advanced by the difference).
    private let lastSeen = NIOLockedValueBox<EngineStatistics?>(nil)
    private let cacheInfoSet = NIOLockedValueBox(false)

    static let ttftBuckets: [Double] = [
        0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
        2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0
    ]
    static let itlBuckets: [Double] = [
        0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
        2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0
    ]
    static let latencyBuckets: [Double] = [
        0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0,
        50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0
    ]

    init(modelName: String) {
        self.modelName = modelName
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets = [
            "vllm:time_to_first_token_seconds": Self.ttftBuckets,
            "vllm:inter_token_latency_seconds": Self.itlBuckets,
            "vllm:e2e_request_latency_seconds": Self.latencyBuckets,
            "vllm:request_queue_time_seconds": Self.latencyBuckets
        ]
        self.factory = factory
        let model = [("model_name", modelName)]
        running = CoreMetrics.Gauge(label: "vllm:num_requests_running", dimensions: model, factory: factory)
        waiting = CoreMetrics.Gauge(label: "vllm:num_requests_waiting", dimensions: model, factory: factory)
        kvCacheUsage = CoreMetrics.Gauge(label: "vllm:kv_cache_usage_perc", dimensions: model, factory: factory)
        gpuCacheUsage = CoreMetrics.Gauge(label: "vllm:gpu_cache_usage_perc", dimensions: model, factory: factory)
        loraRequestsInfo = CoreMetrics.Gauge(
            label: "vllm:lora_requests_info",
            dimensions: [("max_lora", "0"), ("running_lora_adapters", ""), ("waiting_lora_adapters", "")], factory: factory)
        localKVCacheUsage = CoreMetrics.Gauge(label: "tandem:local_kv_cache_usage_perc", dimensions: model, factory: factory)
        promptTokens = CoreMetrics.Counter(label: "vllm:prompt_tokens_total", dimensions: model, factory: factory)
        generationTokens = CoreMetrics.Counter(label: "vllm:generation_tokens_total", dimensions: model, factory: factory)
        prefixQueries = CoreMetrics.Counter(label: "vllm:prefix_cache_queries_total", dimensions: model, factory: factory)
        prefixHits = CoreMetrics.Counter(label: "vllm:prefix_cache_hits_total", dimensions: model, factory: factory)
        deviceBusy = CoreMetrics.FloatingPointCounter(label: "tandem:device_busy_seconds_total", dimensions: model, factory: factory)
        deviceIdle = CoreMetrics.FloatingPointCounter(label: "tandem:device_idle_seconds_total", dimensions: model, factory: factory)
        steps = CoreMetrics.Counter(label: "tandem:steps_total", dimensions: model, factory: factory)
        preemptions = CoreMetrics.Counter(label: "tandem:preemptions_total", dimensions: model, factory: factory)
        specDrafts = CoreMetrics.Counter(label: "vllm:spec_decode_num_drafts_total", dimensions: model, factory: factory)
        specDraftTokens = CoreMetrics.Counter(label: "vllm:spec_decode_num_draft_tokens_total", dimensions: model, factory: factory)
        specAcceptedTokens = CoreMetrics.Counter(
            label: "vllm:spec_decode_num_accepted_tokens_total", dimensions: model, factory: factory)
        var success: [String: CoreMetrics.Counter] = [:]
        for reason in [FinishReason.stop, .length, .abort] {
            success[reason.rawValue] = CoreMetrics.Counter(
                label: "vllm:request_success_total",
                dimensions: model + [("finished_reason", reason.rawValue)],
                factory: factory)
        }
        self.success = success
        timeToFirstToken = CoreMetrics.Recorder(label: "vllm:time_to_first_token_seconds", dimensions: model, aggregate: true, factory: factory)
        interTokenLatency = CoreMetrics.Recorder(label: "vllm:inter_token_latency_seconds", dimensions: model, aggregate: true, factory: factory)
        endToEndLatency = CoreMetrics.Recorder(label: "vllm:e2e_request_latency_seconds", dimensions: model, aggregate: true, factory: factory)
        queueTime = CoreMetrics.Recorder(label: "vllm:request_queue_time_seconds", dimensions: model, aggregate: true, factory: factory)
    }

    /// Publishes `vllm:cache_config_info` once the engine exists.
    func setCacheConfig(_ engine: Engine) {
        guard
            cacheInfoSet.withLockedValue({
                let done = $0; $0 = true; return !done
            })
        else { return }
        let c = engine.configuration
        let labels = [
            ("model_name", modelName),
            ("block_size", String(engine.cacheLayout.blockSize)),
            ("cache_dtype", engine.cacheLayout.elementType),
            ("num_gpu_blocks", String(engine.cacheLayout.blockCount)),
            ("num_cpu_blocks", "0"),
            ("enable_prefix_caching", "True"),
            ("max_num_batched_tokens", String(c.maxBatchTokens)),
            ("max_num_seqs", String(c.maxSequences))
        ]
        CoreMetrics.Gauge(label: "vllm:cache_config_info", dimensions: labels, factory: factory).record(1)
    }

    /// Records one finished engine request.
    func requestFinished(reason: FinishReason, usage: GenerationUsage) {
        success[reason.rawValue]?.increment()
        endToEndLatency.record(usage.totalSeconds)
        queueTime.record(usage.queueSeconds)
        if let ttft = usage.timeToFirstTokenSeconds { timeToFirstToken.record(ttft) }
    }

    /// Records the time between two consecutive tokens of one request.
    func interToken(_ seconds: Double) { interTokenLatency.record(seconds) }

    /// The Prometheus text exposition, with the engine's gauges and counters brought up to date.
    func scrape(engine: Engine?) -> String {
        if let engine {
            setCacheConfig(engine)
            let now = engine.currentStatistics
            lastSeen.withLockedValue { last in
                running.record(now.runningRequests)
                waiting.record(now.waitingRequests)
                kvCacheUsage.record(now.kvCacheUsage)
                gpuCacheUsage.record(now.kvCacheUsage)
                loraRequestsInfo.record(Date().timeIntervalSince1970)
                localKVCacheUsage.record(now.localKVCacheUsage ?? 0)
                func advance(_ counter: CoreMetrics.Counter, _ value: KeyPath<EngineStatistics, Int>) {
                    let old = last?[keyPath: value] ?? 0
                    if now[keyPath: value] > old { counter.increment(by: Int64(now[keyPath: value] - old)) }
                }
                func advance(_ counter: CoreMetrics.FloatingPointCounter, _ value: KeyPath<EngineStatistics, Double>) {
                    let old = last?[keyPath: value] ?? 0
                    if now[keyPath: value] > old { counter.increment(by: now[keyPath: value] - old) }
                }
                advance(promptTokens, \.promptTokens)
                advance(generationTokens, \.generatedTokens)
                advance(prefixQueries, \.prefixCacheQueries)
                advance(prefixHits, \.prefixCacheHits)
                advance(steps, \.steps)
                advance(preemptions, \.preemptions)
                advance(deviceBusy, \.deviceBusySeconds)
                advance(deviceIdle, \.deviceIdleSeconds)
                advance(specDrafts, \.verifications)
                advance(specDraftTokens, \.draftedTokens)
                advance(specAcceptedTokens, \.acceptedDraftTokens)
                let previous = last?.acceptedDraftsPerPosition ?? []
                specAcceptedPerPosition.withLockedValue { counters in
                    for (position, count) in now.acceptedDraftsPerPosition.enumerated() {
                        if position == counters.count {
                            counters.append(
                                CoreMetrics.Counter(
                                    label: "vllm:spec_decode_num_accepted_tokens_per_pos_total",
                                    dimensions: [("model_name", modelName), ("position", String(position))], factory: factory))
                        }
                        let old = position < previous.count ? previous[position] : 0
                        if count > old { counters[position].increment(by: Int64(count - old)) }
                    }
                }
                last = now
            }
        }
        return registry.emitToString()
    }
}
