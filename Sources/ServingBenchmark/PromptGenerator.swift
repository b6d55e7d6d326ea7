/// Builds the benchmark's prompts: random common English words, distinct per request, seeded.
///
/// Each prompt draws its words from its own generator (seeded by the run's seed and the prompt's
/// index), so prompts are reproducible and share no prefix beyond chance. With a token counter
/// (the server's `/tokenize`), each prompt's word count is adjusted until the server counts
/// exactly the target number of tokens (or as close as whole words allow); without one, a
/// prompt has one word per target token, which for these common words is about one token each.
public struct PromptGenerator: Sendable {
    /// One prompt and its token count (the server's count when calibrated, else the estimate).
    public struct Prompt: Sendable, Equatable {
        /// The prompt text.
        public var text: String
        /// Its length in tokens.
        public var tokens: Int
        /// Whether `tokens` was counted by the server.
        public var calibrated: Bool
        /// A shared prefix (system prompt) sent before `text`, and its length in tokens (not in `tokens`).
        public var prefix: String?
        public var prefixTokens = 0

        public init(text: String, tokens: Int, calibrated: Bool) {
            self.text = text
            self.tokens = tokens
            self.calibrated = calibrated
        }

        /// Tokens of the prefix and the text.
        public var totalTokens: Int { tokens + prefixTokens }
    }

    /// Counts the tokens of a text as the server would (`nil` when it cannot).
    public typealias TokenCounter = @Sendable (String) async -> Int?

    /// The vocabulary prompts are drawn from.
    public static let words: [String] = [
        "the", "of", "and", "to", "in", "is", "was", "for", "on", "are", "with", "as", "by", "at", "be", "this",
        "from", "that", "have", "or", "not", "but", "all", "were", "they", "which", "one", "their", "there", "been",
        "has", "more", "when", "will", "would", "who", "about", "out", "many", "then", "them", "these", "some",
        "her", "him", "into", "time", "two", "may", "like", "other", "its", "than", "now", "only", "over", "also",
        "new", "could", "use", "most", "after", "first", "any", "made", "through", "where", "back", "much", "well",
        "how", "should", "year", "because", "each", "just", "people", "those", "such", "long", "good", "under",
        "very", "own", "still", "last", "work", "before", "life", "great", "same", "world", "another", "down",
        "while", "house", "place", "found", "part", "war", "high", "every", "right", "small", "large", "city",
        "state", "home", "both", "since", "between", "make", "end", "during", "might", "never", "old", "little",
        "number", "side", "water", "three", "case", "school", "again", "against", "point", "given", "hand", "late",
        "area", "days", "change", "light", "government", "system", "order", "power", "general", "early", "river",
        "market", "street", "table", "music", "village", "local", "family", "story", "country", "money", "book",
        "study", "night", "field", "young", "public", "paper", "level", "child", "business", "body", "art",
        "company"
    ]

    /// Target prompt length in tokens.
    public let inputLength: Int
    /// The run's seed.
    public let seed: UInt64

    /// Creates a generator for prompts of `inputLength` tokens.
    public init(inputLength: Int, seed: UInt64) {
        self.inputLength = inputLength
        self.seed = seed
    }

    /// The shared prefixes of a run and which one each request starts with: `count` prompts of
    /// `length` tokens (from their own seed), each assigned to as many of `requests` requests as
    /// the count allows, in a seeded random order.
    public static func sharedPrefixes(
        count: Int, length: Int, requests: Int, seed: UInt64, counter: TokenCounter?
    ) async -> (prefixes: [Prompt], assignment: [Int]) {
        guard count > 0 else { return ([], []) }
        let generator = PromptGenerator(inputLength: length, seed: seed ^ 0x7072_6566_6978)  // "prefix"
        var prefixes: [Prompt] = []
        for index in 0..<count { prefixes.append(await generator.prompt(index: index, counter: counter)) }
        var assignment = (0..<requests).map { $0 % count }
        var random = SeededGenerator(seed: seed ^ 0x6173_7369_676E)  // "assign"
        assignment.shuffle(using: &random)
        return (prefixes, assignment)
    }

    /// The first `wordCount` words of prompt `index`.
    public func text(index: Int, wordCount: Int) -> String {
        var generator = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &+ 1)
        var words: [String] = []
        words.reserveCapacity(wordCount)
        for _ in 0..<max(wordCount, 1) {
            words.append(Self.words[Int(generator.next() % UInt64(Self.words.count))])
        }
        return words.joined(separator: " ")
    }

    /// Prompt `index`, calibrated with `counter` when given.
    public func prompt(index: Int, counter: TokenCounter?) async -> Prompt {
        guard let counter else {
            return Prompt(text: text(index: index, wordCount: inputLength), tokens: inputLength, calibrated: false)
        }
        var wordCount = inputLength
        var best: (words: Int, tokens: Int)?
        var tried: Set<Int> = []
        for _ in 0..<12 {
            guard wordCount >= 1, !tried.contains(wordCount) else { break }
            tried.insert(wordCount)
            guard let tokens = await counter(text(index: index, wordCount: wordCount)) else { break }
            if best.map({ abs($0.tokens - inputLength) > abs(tokens - inputLength) }) ?? true {
                best = (wordCount, tokens)
            }
            if tokens == inputLength { break }
            // Step by the estimated number of words, at least one.
            let ratio = max(Double(tokens) / Double(wordCount), 0.25)
            let step = Int((Double(inputLength - tokens) / ratio).rounded())
            wordCount += step == 0 ? (tokens < inputLength ? 1 : -1) : step
        }
        guard let best else {
            return Prompt(text: text(index: index, wordCount: inputLength), tokens: inputLength, calibrated: false)
        }
        return Prompt(text: text(index: index, wordCount: best.words), tokens: best.tokens, calibrated: true)
    }
}
