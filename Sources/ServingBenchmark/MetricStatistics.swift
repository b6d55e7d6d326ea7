import Foundation

/// Summary statistics of one latency metric over a run, in milliseconds.
public struct MetricStatistics: Sendable, Equatable {
    /// Arithmetic mean.
    public var mean: Double
    /// The 50th percentile.
    public var median: Double
    /// Population standard deviation (numpy's default, `ddof=0`).
    public var std: Double
    /// The 99th percentile.
    public var p99: Double

    /// Creates statistics from their values.
    public init(mean: Double, median: Double, std: Double, p99: Double) {
        self.mean = mean
        self.median = median
        self.std = std
        self.p99 = p99
    }

    /// Statistics of `seconds`, reported in milliseconds. An empty sample gives all zeros, as
    /// vLLM's `np.mean(values or 0)` does.
    public init(seconds: [Double]) {
        let sample = seconds.isEmpty ? [0] : seconds
        let sorted = sample.sorted()
        let mean = sample.reduce(0, +) / Double(sample.count)
        let variance = sample.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(sample.count)
        self.init(
            mean: mean * 1000,
            median: Self.percentile(sorted: sorted, 50) * 1000,
            std: variance.squareRoot() * 1000,
            p99: Self.percentile(sorted: sorted, 99) * 1000)
    }

    /// The `p`-th percentile (0...100) of ascending `sorted`, by numpy's default ("linear")
    /// method: the value at fractional rank `p/100 · (n − 1)`, interpolated between neighbours.
    public static func percentile(sorted: [Double], _ p: Double) -> Double {
        guard let first = sorted.first else { return 0 }
        guard sorted.count > 1 else { return first }
        let rank = min(max(p, 0), 100) / 100 * Double(sorted.count - 1)
        let lower = Int(rank.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        let fraction = rank - Double(lower)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
    }
}
