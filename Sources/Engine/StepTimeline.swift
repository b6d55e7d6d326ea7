import Foundation

/// When one step was prepared, submitted and computed, on the host and device clocks (both
/// `DispatchTime` nanoseconds on the CPU device).
public struct StepRecord: Sendable, Codable {
    public var id: Int
    /// Host: scheduling and batch building for this step.
    public var prepareStart: UInt64
    public var submitted: UInt64
    /// Device: computing this step.
    public var deviceStart: UInt64
    public var deviceEnd: UInt64
    /// Host: finished processing this step's outputs.
    public var collected: UInt64
    public var sequences: Int
    public var tokens: Int
    /// Tokens of this step that continue a generation (one per decoding sequence); the rest are
    /// prompt (or recomputed) tokens. A step whose tokens are all decodes is a decode-only step.
    public var decodeTokens: Int
    /// Drafts verified in this step (speculative decoding), and how many of them were accepted:
    /// tokens the step yielded beyond one per sampling sequence.
    public var draftedTokens: Int
    public var acceptedTokens: Int
    /// Device time spent waiting for the host before this step (0 if the step was already queued,
    /// or if the engine had no work before it).
    public var deviceIdleBefore: UInt64
}

/// Aggregates over the steps of a run: the figures of merit of asynchronous batching.
public struct EngineStatistics: Sendable, Codable {
    public var steps = 0
    public var deviceBusySeconds = 0.0
    public var deviceIdleSeconds = 0.0
    public var hostPrepareSeconds = 0.0
    public var scheduledTokens = 0
    public var scheduledSequences = 0
    /// Steps that held decodes only, the tokens they yielded (with accepted drafts) and their
    /// device time (busy + idle): the batched
    /// decode rate, comparable with a peer's decode loop that runs after all prompts are prefilled.
    public var decodeOnlySteps = 0
    public var decodeOnlyTokens = 0
    public var decodeOnlyDeviceSeconds = 0.0
    public var preemptions = 0
    public var prefixCacheQueries = 0
    public var prefixCacheHits = 0
    public var promptTokens = 0
    public var generatedTokens = 0
    public var runningRequests = 0
    public var waitingRequests = 0
    public var kvCacheUsage = 0.0
    /// With a split cache, the local layers' pool in use, 0-1 (`kvCacheUsage` is the global pool's).
    public var localKVCacheUsage: Double?
    public var finishedRequests: [String: Int] = [:]
    /// Speculative decoding: sequence-steps that verified drafts, the drafts verified, the drafts
    /// accepted, and per draft position how often it was accepted (vLLM's `spec_decode` counters).
    public var verifications = 0
    public var draftedTokens = 0
    public var acceptedDraftTokens = 0
    public var acceptedDraftsPerPosition: [Int] = []

    /// Accepted drafts over verified drafts (0 without drafts).
    public var draftAcceptanceRate: Double { draftedTokens > 0 ? Double(acceptedDraftTokens) / Double(draftedTokens) : 0 }
    /// Tokens a verifying sequence-step yielded on average: its sample and the drafts it accepted.
    public var meanAcceptedLength: Double { verifications > 0 ? 1 + Double(acceptedDraftTokens) / Double(verifications) : 0 }

    /// Device idle time over device busy + idle time while there was work.
    public var deviceIdleFraction: Double {
        let total = deviceBusySeconds + deviceIdleSeconds
        return total > 0 ? deviceIdleSeconds / total : 0
    }

    public var meanBatchSize: Double { steps > 0 ? Double(scheduledSequences) / Double(steps) : 0 }
    public var meanTokensPerStep: Double { steps > 0 ? Double(scheduledTokens) / Double(steps) : 0 }

    mutating func recordVerification(drafted: Int, accepted: Int) {
        verifications += 1
        draftedTokens += drafted
        acceptedDraftTokens += accepted
        while acceptedDraftsPerPosition.count < accepted { acceptedDraftsPerPosition.append(0) }
        for position in 0..<accepted { acceptedDraftsPerPosition[position] += 1 }
    }

    mutating func record(_ step: StepRecord) {
        steps += 1
        deviceBusySeconds += Double(step.deviceEnd - step.deviceStart) / 1e9
        deviceIdleSeconds += Double(step.deviceIdleBefore) / 1e9
        hostPrepareSeconds += Double(step.submitted - step.prepareStart) / 1e9
        scheduledTokens += step.tokens
        scheduledSequences += step.sequences
        if step.decodeTokens == step.tokens, step.tokens > 0 {
            decodeOnlySteps += 1
            decodeOnlyTokens += step.tokens + step.acceptedTokens
            decodeOnlyDeviceSeconds += Double(step.deviceEnd - step.deviceStart + step.deviceIdleBefore) / 1e9
        }
    }
}

/// Writers for the step timeline: Chrome trace / Perfetto JSON and an SVG picture.
public enum TimelineExport {
    /// A Chrome trace (`chrome://tracing`, ui.perfetto.dev) with one track for the host and one
    /// for the device.
    public static func chromeTrace(_ runs: [(name: String, steps: [StepRecord])]) -> Data {
        var events: [[String: Any]] = []
        for (pid, run) in runs.enumerated() {
            guard let origin = run.steps.first?.prepareStart else { continue }
            func us(_ t: UInt64) -> Double { Double(t &- origin) / 1000 }
            events.append(["name": "process_name", "ph": "M", "pid": pid, "args": ["name": run.name]])
            events.append(["name": "thread_name", "ph": "M", "pid": pid, "tid": 1, "args": ["name": "host"]])
            events.append(["name": "thread_name", "ph": "M", "pid": pid, "tid": 2, "args": ["name": "device"]])
            for step in run.steps {
                events.append([
                    "name": "prepare \(step.id)", "ph": "X", "pid": pid, "tid": 1, "ts": us(step.prepareStart),
                    "dur": us(step.submitted) - us(step.prepareStart),
                    "args": ["sequences": step.sequences, "tokens": step.tokens]
                ])
                events.append([
                    "name": "step \(step.id)", "ph": "X", "pid": pid, "tid": 2, "ts": us(step.deviceStart),
                    "dur": us(step.deviceEnd) - us(step.deviceStart),
                    "args": [
                        "sequences": step.sequences, "tokens": step.tokens,
                        "idle_before_us": Double(step.deviceIdleBefore) / 1000
                    ]
                ])
                if step.collected > step.deviceEnd {
                    events.append([
                        "name": "collect \(step.id)", "ph": "X", "pid": pid, "tid": 1,
                        "ts": us(step.deviceEnd), "dur": us(step.collected) - us(step.deviceEnd)
                    ])
                }
            }
        }
        return
            (try? JSONSerialization.data(
                withJSONObject: ["traceEvents": events, "displayTimeUnit": "ms"],
                options: [.sortedKeys])) ?? Data()
    }

    /// An SVG of each run (e.g. sync above async): host and device lanes over three steps, and a
    /// zoom of a few milliseconds around a step boundary, where the host's work either overlaps the
    /// device's (async) or makes it wait (sync).
    public static func svg(_ runs: [(name: String, steps: [StepRecord])]) -> String {
        let width = 1200.0, laneHeight = 22.0, left = 120.0
        var body = ""
        var y = 30.0
        for run in runs {
            let steps = Array(run.steps.dropFirst(min(2, max(run.steps.count - 4, 0))))
            guard steps.count >= 2 else { continue }
            let busy = steps.reduce(0.0) { $0 + Double($1.deviceEnd - $1.deviceStart) }
            let idle = steps.reduce(0.0) { $0 + Double($1.deviceIdleBefore) }
            body +=
                "<text x=\"10\" y=\"\(y - 8)\" font-weight=\"bold\">\(run.name): device idle "
                + String(format: "%.2f%%", 100 * idle / max(busy + idle, 1)) + " over \(run.steps.count) steps</text>\n"
            // Three steps, then 4 ms around the boundary between the first two.
            let full = Double(steps[min(3, steps.count - 1)].deviceEnd &- steps[0].prepareStart) / 1e9
            let boundary = steps[1].deviceStart
            for (origin, window, label) in [
                (steps[0].prepareStart, full, "3 steps"),
                (boundary &- 2_000_000, 0.004, "4 ms zoom")
            ] {
                let scale = (width - left - 20) / window
                func x(_ t: UInt64) -> Double { left + Double(Int64(bitPattern: t &- origin)) / 1e9 * scale }
                body += "<text x=\"10\" y=\"\(y + 15)\">host</text><text x=\"10\" y=\"\(y + laneHeight + 15)\">device</text>"
                body += "<text x=\"60\" y=\"\(y + 15)\" fill=\"#777\">\(label)</text>\n"
                for step in run.steps {
                    let a = x(step.prepareStart), b = x(step.submitted), c = x(step.deviceStart), d = x(step.deviceEnd)
                    guard c < width || a < width, d > left || b > left else { continue }
                    body += rect(max(a, left), y, min(max(b, a + 1), width) - max(a, left), laneHeight - 4, "#4c78a8")
                    if step.collected > step.deviceEnd {
                        let e = x(step.collected)
                        body += rect(max(d, left), y, min(max(e, d + 1), width) - max(d, left), laneHeight - 4, "#9ecae9")
                    }
                    body += rect(max(c, left), y + laneHeight, min(d, width) - max(c, left), laneHeight - 4, "#f58518")
                }
                y += 2 * laneHeight + 8
            }
            y += 28
        }
        let legend =
            "<text x=\"\(left)\" y=\"\(y)\">blue: host schedules and submits a step · light blue: host collects outputs "
            + "(detokenize, stop checks) · orange: device computes · white: device idle</text>"
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(y + 20))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            \(body)\(legend)
            </svg>
            """
    }

    private static func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, _ color: String) -> String {
        guard w > 0 else { return "" }
        return String(format: "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%@\"/>\n", x, y, w, h, color)
    }
}
