import Foundation

/// When each request of a benchmark is sent, relative to the start of the run.
///
/// Mirrors `vllm bench serve`: the first request goes out at once, and each next one after an
/// interval drawn from a gamma distribution with shape `burstiness` and scale
/// `1 / (rate · burstiness)`, so the mean interval is `1 / rate` whatever the burstiness.
/// Burstiness 1 is a Poisson process (exponential intervals); below 1 is burstier, above 1 more
/// regular. An infinite rate sends everything at time 0.
public struct ArrivalSchedule: Sendable {
    /// Requests per second; `.infinity` sends all requests at once.
    public let requestRate: Double
    /// The gamma shape parameter (1 = Poisson).
    public let burstiness: Double

    /// Creates a schedule; `requestRate` and `burstiness` must be positive.
    public init(requestRate: Double, burstiness: Double = 1) {
        precondition(requestRate > 0 && burstiness > 0, "rate and burstiness must be positive")
        self.requestRate = requestRate
        self.burstiness = burstiness
    }

    /// Send times in seconds from the start, one per request, non-decreasing, the first at 0.
    public func offsets(count: Int, generator: inout SeededGenerator) -> [Double] {
        guard count > 0 else { return [] }
        guard requestRate.isFinite else { return Array(repeating: 0, count: count) }
        var offsets = [Double]()
        offsets.reserveCapacity(count)
        var time = 0.0
        for index in 0..<count {
            if index > 0 { time += nextInterval(generator: &generator) }
            offsets.append(time)
        }
        return offsets
    }

    /// One inter-arrival interval in seconds.
    public func nextInterval(generator: inout SeededGenerator) -> Double {
        let theta = 1.0 / (requestRate * burstiness)
        return Self.gamma(shape: burstiness, generator: &generator) * theta
    }

    /// A gamma(shape, 1) variate by Marsaglia and Tsang's method (with the usual boost for
    /// shape < 1: gamma(a) = gamma(a + 1) · U^(1/a)).
    static func gamma(shape: Double, generator: inout SeededGenerator) -> Double {
        if shape < 1 {
            let u = generator.nextOpenUnitInterval()
            return gamma(shape: shape + 1, generator: &generator) * pow(u, 1 / shape)
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x: Double
            var v: Double
            repeat {
                x = generator.nextStandardNormal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = generator.nextOpenUnitInterval()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }
}
