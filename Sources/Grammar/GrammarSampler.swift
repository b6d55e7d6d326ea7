/// Random documents of a grammar, byte by byte, for checking a compiled grammar against an
/// independent validator (every sample must validate) — `tandem grammar` prints them.
public enum GrammarSampler {
    /// One random text the grammar accepts, or nil when none completed within `maximumBytes`.
    /// Closing bytes (`"`, `}`, `]`, `,`) are favoured so that documents end.
    public static func sample(_ grammar: Grammar, maximumBytes: Int = 4096, random: inout some RandomNumberGenerator) -> [UInt8]? {
        let matcher = GrammarMatcher(grammar: grammar)
        var text: [UInt8] = []
        let closers: [UInt8] = Array("\"}],".utf8)
        while text.count < maximumBytes {
            let allowed = matcher.allowedBytes
            if matcher.isAccepting && (allowed.isEmpty || Double.random(in: 0..<1, using: &random) < 0.3) { return text }
            var candidates = closers.filter { allowed.contains($0) }
            if candidates.isEmpty || Double.random(in: 0..<1, using: &random) < 0.7 {
                candidates = (0...255).map(UInt8.init).filter { allowed.contains($0) }
                // Mostly ASCII, so that multi-byte characters do not crowd out the structure.
                let ascii = candidates.filter { $0 < 0x80 }
                if !ascii.isEmpty && Double.random(in: 0..<1, using: &random) < 0.9 { candidates = ascii }
            }
            guard let byte = candidates.randomElement(using: &random) else { return nil }
            matcher.accept([byte])
            text.append(byte)
        }
        return nil
    }

    /// Whether the grammar accepts `text` in full.
    public static func accepts(_ grammar: Grammar, _ text: [UInt8]) -> Bool {
        let matcher = GrammarMatcher(grammar: grammar)
        for byte in text where !matcher.accept([byte]) { return false }
        return matcher.isAccepting
    }
}
