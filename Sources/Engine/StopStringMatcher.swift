/// Finds stop strings in streamed text, holding back any tail that could still become one.
///
/// Feed it text deltas; it returns the text that is safe to emit. Once a stop string appears,
/// the text before it is released and everything from the match on is dropped.
public struct StopStringMatcher: Sendable {
    public let stopStrings: [String]
    private var held = ""
    public private(set) var matched: String?

    public init(stopStrings: [String]) {
        self.stopStrings = stopStrings.filter { !$0.isEmpty }
    }

    /// Adds `text` and returns what can be emitted now.
    public mutating func append(_ text: String) -> String {
        guard matched == nil else { return "" }
        guard !stopStrings.isEmpty else { return text }
        held += text
        // The earliest complete match wins.
        var earliest: (range: Range<String.Index>, stop: String)?
        for stop in stopStrings {
            if let range = held.range(of: stop), earliest.map({ range.lowerBound < $0.range.lowerBound }) ?? true {
                earliest = (range, stop)
            }
        }
        if let earliest {
            matched = earliest.stop
            let emitted = String(held[..<earliest.range.lowerBound])
            held = ""
            return emitted
        }
        // Hold back the longest suffix that is a prefix of some stop string.
        var keep = 0
        for stop in stopStrings {
            var length = min(stop.count - 1, held.count)
            while length > keep {
                if held.hasSuffix(stop.prefix(length)) {
                    keep = length
                    break
                }
                length -= 1
            }
        }
        let cut = held.index(held.endIndex, offsetBy: -keep)
        let emitted = String(held[..<cut])
        held = String(held[cut...])
        return emitted
    }

    /// Releases held-back text when the stream ends for another reason.
    public mutating func flush() -> String {
        defer { held = "" }
        return matched == nil ? held : ""
    }
}
