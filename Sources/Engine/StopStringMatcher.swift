/// Finds stop strings in streamed text, holding back any tail that could still become one.
///
/// Feed it text deltas; it returns the text that is safe to emit. Once a stop string appears,
/// the text before it is released and everything from the match on is dropped.
///
/// Matching runs one Knuth-Morris-Pratt automaton per stop string over Unicode scalars, so each
/// appended scalar costs O(number of stop strings) amortized, whatever their lengths; the held-back
/// tail is never longer than the longest stop string.
public struct StopStringMatcher: Sendable {
    public let stopStrings: [String]
    private let patterns: [[Unicode.Scalar]]
    /// Per pattern, the length of the longest proper prefix that is also a suffix, for each prefix length.
    private let failures: [[Int]]
    /// Per pattern, how many of its scalars the end of the text matches.
    private var states: [Int]
    private var held: [Unicode.Scalar] = []
    public private(set) var matched: String?

    public init(stopStrings: [String]) {
        self.stopStrings = stopStrings.filter { !$0.isEmpty }
        patterns = self.stopStrings.map { Array($0.unicodeScalars) }
        failures = patterns.map(Self.failureFunction)
        states = Array(repeating: 0, count: patterns.count)
    }

    private static func failureFunction(_ pattern: [Unicode.Scalar]) -> [Int] {
        var failure = Array(repeating: 0, count: pattern.count + 1)
        var k = 0
        for i in 1..<max(pattern.count, 1) {
            while k > 0 && pattern[i] != pattern[k] { k = failure[k] }
            if pattern[i] == pattern[k] { k += 1 }
            failure[i + 1] = k
        }
        return failure
    }

    /// Adds `text` and returns what can be emitted now.
    public mutating func append(_ text: String) -> String {
        guard matched == nil else { return "" }
        guard !patterns.isEmpty else { return text }
        // The match that starts earliest wins (the first stop string on a tie).
        var earliest: (start: Int, pattern: Int)?
        for scalar in text.unicodeScalars {
            held.append(scalar)
            for p in patterns.indices {
                let pattern = patterns[p]
                var state = states[p]
                while state > 0 && pattern[state] != scalar { state = failures[p][state] }
                if pattern[state] == scalar { state += 1 }
                if state == pattern.count {
                    let start = held.count - state
                    if earliest.map({ start < $0.start }) ?? true { earliest = (start, p) }
                    state = failures[p][state]
                }
                states[p] = state
            }
        }
        if let earliest {
            matched = stopStrings[earliest.pattern]
            let emitted = String(String.UnicodeScalarView(held[..<earliest.start]))
            held = []
            return emitted
        }
        // Hold back the longest suffix that is a prefix of some stop string.
        let keep = states.max() ?? 0
        let emitted = String(String.UnicodeScalarView(held[..<(held.count - keep)]))
        held.removeFirst(held.count - keep)
        return emitted
    }

    /// Releases held-back text when the stream ends for another reason.
    public mutating func flush() -> String {
        defer { held = [] }
        return matched == nil ? String(String.UnicodeScalarView(held)) : ""
    }
}
