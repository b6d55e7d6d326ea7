/// Goodput targets, like `vllm bench serve --goodput ttft:MS tpot:MS e2el:MS`: a request is
/// "good" when it meets every objective given (value ≤ target).
public struct ServiceLevelObjectives: Sendable, Equatable {
    /// Largest acceptable time to first token, in milliseconds.
    public var ttftMilliseconds: Double?
    /// Largest acceptable time per output token, in milliseconds.
    public var tpotMilliseconds: Double?
    /// Largest acceptable end-to-end latency, in milliseconds.
    public var e2elMilliseconds: Double?

    /// Creates objectives; `nil` leaves a metric unconstrained.
    public init(ttftMilliseconds: Double? = nil, tpotMilliseconds: Double? = nil, e2elMilliseconds: Double? = nil) {
        self.ttftMilliseconds = ttftMilliseconds
        self.tpotMilliseconds = tpotMilliseconds
        self.e2elMilliseconds = e2elMilliseconds
    }

    /// Parses `KEY:MS` pairs (keys `ttft`, `tpot`, `e2el`; values non-negative milliseconds).
    public init(parsing pairs: [String]) throws(ServingBenchmarkError) {
        self.init()
        for pair in pairs {
            let parts = pair.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let value = Double(parts[1]), value >= 0, value.isFinite else {
                throw .invalidArgument("goodput objective '\(pair)' is not KEY:MILLISECONDS with a non-negative number")
            }
            switch parts[0] {
            case "ttft": ttftMilliseconds = value
            case "tpot": tpotMilliseconds = value
            case "e2el": e2elMilliseconds = value
            default: throw .invalidArgument("goodput metric '\(parts[0])' is not one of ttft, tpot, e2el")
            }
        }
    }

    /// Whether no objective is set.
    public var isEmpty: Bool { ttftMilliseconds == nil && tpotMilliseconds == nil && e2elMilliseconds == nil }
}
