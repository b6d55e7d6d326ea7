// The Tokenizer module; see DESIGN.md §2 part 2.

/// A text tokenizer built from GGUF `tokenizer.ggml.*` metadata, following llama.cpp's behaviour.
///
/// Supports byte-level BPE (`gpt2`, with the `default`, `gpt2`, `llama-bpe`, `qwen2`, `smollm`,
/// `falcon` pre-tokenizer families and their llama.cpp aliases) and SentencePiece-style BPE
/// (`llama`). Immutable after construction and safe to share between threads.
public final class Tokenizer: Sendable {
    /// The tokenizer family.
    public let model: TokenizerModelKind
    /// The pre-tokenizer family (byte-level BPE only; ``PreTokenizer/default`` for SentencePiece).
    public let preTokenizer: PreTokenizer
    /// Beginning-of-sequence token, if the vocabulary has one.
    public let bos: Int32?
    /// End-of-sequence token, if the vocabulary has one.
    public let eos: Int32?
    /// End-of-turn token (`tokenizer.ggml.eot_token_id`, or detected by text as llama.cpp does).
    public let eot: Int32?
    /// Unknown token, if any.
    public let unknown: Int32?
    /// Padding token, if any.
    public let padding: Int32?
    /// Whether `encode(_:addSpecial: true)` prepends ``bos``.
    public let addsBOS: Bool
    /// Whether `encode(_:addSpecial: true)` appends ``eos``.
    public let addsEOS: Bool
    /// SentencePiece: whether a space is prefixed to text at the start and after special tokens.
    public let addsSpacePrefix: Bool
    /// Tokens that end generation: EOS, EOT, EOM and tokens whose text is one of llama.cpp's
    /// end-of-generation markers (`<|eot_id|>`, `<|im_end|>`, `<|end|>`, `<end_of_turn>`,
    /// `<|endoftext|>`, `<|eom_id|>`, `<EOT>`).
    public let endOfGenerationTokens: Set<Int32>

    private let tokens: [String]
    private let types: [TokenType]
    private let tokenIds: TokenIdTable
    /// Rendered bytes per token with specials shown (what `bytes(of:)` returns).
    private let pieces: [[UInt8]]
    /// Tokens matched in raw text before tokenization, longest text first.
    private let specialTokens: [(id: Int32, bytes: [UInt8], type: TokenType)]
    /// Special tokens after which whitespace in the text is dropped (llama.cpp's `RSTRIP`
    /// attribute; see ``rightStrippingTokens(_:tokens:types:)``).
    let rightStripping: Set<Int32>
    private let bpe: BytePairEncoder?
    private let spm: SentencePieceEncoder?

    /// The number of tokens in the vocabulary.
    public var vocabularySize: Int { tokens.count }

    /// Builds a tokenizer from a pure-data vocabulary.
    ///
    /// Defaults follow llama.cpp: SentencePiece adds BOS and a space prefix unless the metadata
    /// says otherwise, and uses BOS 1 / EOS 2 / UNK 0 when those ids are absent; byte-level BPE
    /// adds BOS only for Llama 3 style pre-tokenizers or when `add_bos_token` is set. (llama.cpp's
    /// byte-level default of id 11 for absent BOS/EOS is not copied: absent means `nil` here.)
    /// - Throws: ``TokenizerError`` for an empty vocabulary, mismatched array lengths, malformed
    ///   merges, an unknown pre-tokenizer, or special-token ids outside the vocabulary.
    public init(vocabulary v: TokenizerVocabulary) throws {
        guard !v.tokens.isEmpty else { throw TokenizerError.emptyVocabulary }
        let n = v.tokens.count
        if let types = v.tokenTypes, types.count != n {
            throw TokenizerError.invalidValue(
                key: "tokenizer.ggml.token_type",
                reason: "has \(types.count) entries for \(n) tokens")
        }
        if let scores = v.scores, scores.count != n {
            throw TokenizerError.invalidValue(
                key: "tokenizer.ggml.scores",
                reason: "has \(scores.count) entries for \(n) tokens")
        }
        func checked(_ id: Int?, _ key: String) throws -> Int32? {
            guard let id else { return nil }
            guard id >= 0 && id < n else { throw TokenizerError.tokenIdOutOfRange(key: key, id: id, vocabularySize: n) }
            return Int32(id)
        }

        // Token texts: llama.cpp renames empty tokens so they can never match.
        var tokens = v.tokens
        for i in tokens.indices where tokens[i].isEmpty { tokens[i] = "[EMPTY_\(i)]" }
        var tokenIds = TokenIdTable()
        tokenIds.reserveCapacity(n)
        for (i, text) in tokens.enumerated() { tokenIds[text] = Int32(i) }
        var types = v.tokenTypes ?? [TokenType](repeating: .normal, count: n)

        let settings: PreTokenizer.Settings
        var addBOS: Bool
        var addEOS = false
        var addSpacePrefix: Bool
        var bos = try checked(v.bosTokenId, "tokenizer.ggml.bos_token_id")
        var eos = try checked(v.eosTokenId, "tokenizer.ggml.eos_token_id")
        var unknown = try checked(v.unknownTokenId, "tokenizer.ggml.unknown_token_id")
        switch v.model {
        case .gpt2:
            settings = try PreTokenizer.settings(for: v.preTokenizer)
            addBOS = settings.addBOSByDefault
            addSpacePrefix = false
        case .llama:
            settings = PreTokenizer.Settings(preTokenizer: .default, cleanSpaces: false)
            addBOS = true
            addSpacePrefix = true
            if v.bosTokenId == nil && n > 1 { bos = 1 }
            if v.eosTokenId == nil && n > 2 { eos = 2 }
            if v.unknownTokenId == nil { unknown = 0 }
        }
        if let flag = v.addBOS { addBOS = flag }
        if let flag = v.addEOS { addEOS = flag }
        if let flag = v.addSpacePrefix { addSpacePrefix = flag }

        // End of generation, as llama.cpp detects it (by id keys and by token text).
        var eot = try checked(v.eotTokenId, "tokenizer.ggml.eot_token_id")
        let eom = try checked(v.eomTokenId, "tokenizer.ggml.eom_token_id")
        let eotTexts = [
            "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
            "<｜end▁of▁sentence｜>"
        ]
        if eot == nil {
            for text in eotTexts { if let id = tokenIds[text] { eot = id; break } }
        }
        var eog = Set<Int32>()
        for text in ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"] {
            if let id = tokenIds[text] { eog.insert(id) }
        }
        // llama.cpp forces end-of-generation tokens found by their text to control type.
        for id in eog where types[Int(id)] != .control { types[Int(id)] = .control }
        if v.eotTokenId == nil, let eot { types[Int(eot)] = .control }
        for id in [eos, eot, eom].compactMap({ $0 }) { eog.insert(id) }

        self.model = v.model
        self.preTokenizer = settings.preTokenizer
        self.bos = bos
        self.eos = eos
        self.eot = eot
        self.unknown = unknown
        self.padding = try checked(v.paddingTokenId, "tokenizer.ggml.padding_token_id")
        self.addsBOS = addBOS
        self.addsEOS = addEOS
        self.addsSpacePrefix = addSpacePrefix
        self.endOfGenerationTokens = eog
        self.tokens = tokens
        self.types = types
        self.tokenIds = tokenIds

        var pieces: [[UInt8]] = []
        pieces.reserveCapacity(n)
        for i in 0..<n {
            pieces.append(Tokenizer.render(tokens[i], type: types[i], model: v.model))
        }
        self.pieces = pieces

        var specials: [(id: Int32, bytes: [UInt8], type: TokenType)] = []
        for i in 0..<n where types[i] == .control || types[i] == .userDefined || types[i] == .unknown {
            specials.append((Int32(i), Array(tokens[i].utf8), types[i]))
        }
        specials.sort { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
        self.specialTokens = specials
        self.rightStripping = Tokenizer.rightStrippingTokens(v.modelName, tokens: tokens, types: types)

        switch v.model {
        case .gpt2:
            bpe = try BytePairEncoder(
                tokens: tokens, tokenIds: tokenIds, merges: v.merges,
                ignoreMerges: settings.ignoreMerges)
            spm = nil
        case .llama:
            bpe = nil
            spm = SentencePieceEncoder(
                tokenIds: tokenIds, scores: v.scores ?? [Float](repeating: 0, count: n),
                unknownToken: unknown)
        }
    }

    /// The bytes a token stands for, with control tokens rendered as their text.
    private static func render(_ text: String, type: TokenType, model: TokenizerModelKind) -> [UInt8] {
        switch type {
        case .control, .unknown, .userDefined:
            return Array(text.utf8)
        case .normal:
            switch model {
            case .gpt2: return ByteLevel.decode(text)
            case .llama: return Array(text.replacingSpaceMarkers().utf8)
            }
        case .byte:
            // `<0xXX>`: SentencePiece byte tokens; byte-level BPE renders them as nothing (llama.cpp).
            guard model == .llama else { return [] }
            let utf8 = Array(text.utf8)
            guard utf8.count == 6, let value = UInt8(String(decoding: utf8[3..<5], as: UTF8.self), radix: 16)
            else { return [] }
            return [value]
        case .unused, .undefined:
            return []
        }
    }

    // MARK: - Lookup

    /// The bytes token `id` decodes to, control tokens shown as their text; empty for ids
    /// outside the vocabulary.
    public func bytes(of id: Int32) -> [UInt8] {
        guard id >= 0 && Int(id) < pieces.count else { return [] }
        return pieces[Int(id)]
    }

    /// The raw vocabulary text of token `id` (byte-level or `▁`-escaped form), if in range.
    public func text(of id: Int32) -> String? {
        guard id >= 0 && Int(id) < tokens.count else { return nil }
        return tokens[Int(id)]
    }

    /// The id of the token whose vocabulary text is exactly `text` (e.g. `"<|im_end|>"`).
    public func token(for text: String) -> Int32? {
        tokenIds[text]
    }

    /// The type of token `id`; ``TokenType/undefined`` outside the vocabulary.
    public func tokenType(of id: Int32) -> TokenType {
        guard id >= 0 && Int(id) < types.count else { return .undefined }
        return types[Int(id)]
    }

    /// Whether `id` is a control token (type 3, including detected end-of-generation tokens).
    public func isControl(_ id: Int32) -> Bool {
        tokenType(of: id) == .control
    }

    /// Whether generation should stop after `id`.
    public func isEndOfGeneration(_ id: Int32) -> Bool {
        endOfGenerationTokens.contains(id)
    }

    // MARK: - Encoding

    private enum Fragment {
        case text(Range<Int>)
        case token(Int32)
    }

    /// Splits text around special tokens as llama.cpp's `tokenizer_st_partition` does: each
    /// special token, longest first, is searched in every remaining text fragment. Control and
    /// unknown tokens are only matched when `parseSpecial` is set; user-defined tokens always are.
    private func partition(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [Fragment] {
        var fragments: [Fragment] = bytes.isEmpty ? [] : [.text(0..<bytes.count)]
        var next: [Fragment] = []
        for special in specialTokens {
            if !parseSpecial && special.type != .userDefined { continue }
            let needle = special.bytes
            guard let first = needle.first else { continue }
            var changed = false
            next.removeAll(keepingCapacity: true)
            for fragment in fragments {
                guard case .text(let range) = fragment, range.count >= needle.count else {
                    next.append(fragment)
                    continue
                }
                var start = range.lowerBound
                var i = range.lowerBound
                let last = range.upperBound - needle.count
                while i <= last {
                    if bytes[i] == first && Tokenizer.matches(bytes, at: i, needle) {
                        if i > start { next.append(.text(start..<i)) }
                        next.append(.token(special.id))
                        i += needle.count
                        if rightStripping.contains(special.id) {
                            while i < range.upperBound && Tokenizer.isSpace(bytes[i]) { i += 1 }
                        }
                        start = i
                        changed = true
                    } else {
                        i += 1
                    }
                }
                if start < range.upperBound { next.append(.text(start..<range.upperBound)) }
            }
            if changed { swap(&fragments, &next) }
        }
        return fragments
    }

    /// C's `isspace` in the "C" locale, which llama.cpp's strip attributes use.
    @inline(__always)
    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) }

    /// llama.cpp's per-model token attributes that change tokenization: for a model whose
    /// lowercased `general.name` contains `phi-3` or `phi3`, every special token (control,
    /// user-defined, unknown) but `<unk>`, `<s>` and `<|endoftext|>`, and `</s>`, strips the
    /// whitespace that follows it in the text (`RSTRIP`), as Phi-3's tokenizer.json marks its chat
    /// tokens `rstrip`. (A file named like "Phi 3 Mini" gets no such attribute in llama.cpp either.)
    static func rightStrippingTokens(_ modelName: String?, tokens: [String], types: [TokenType]) -> Set<Int32> {
        guard let name = modelName?.lowercased(), name.contains("phi-3") || name.contains("phi3") else { return [] }
        var result: Set<Int32> = []
        for (i, token) in tokens.enumerated() {
            let special = types[i] == .control || types[i] == .userDefined || types[i] == .unknown
            if (special && !["<unk>", "<s>", "<|endoftext|>"].contains(token)) || token == "</s>" {
                result.insert(Int32(i))
            }
        }
        return result
    }

    @inline(__always)
    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int, _ needle: [UInt8]) -> Bool {
        for k in 1..<needle.count where bytes[offset + k] != needle[k] { return false }
        return true
    }

    /// Tokenizes `text`.
    /// - Parameters:
    ///   - addSpecial: add BOS/EOS as the model asks (``addsBOS``, ``addsEOS``).
    ///   - parseSpecial: recognise control tokens written in the text (e.g. `<|im_start|>`);
    ///     when false they are tokenized as plain text. User-defined tokens are always
    ///     recognised, as in llama.cpp.
    /// - Note: byte-level BPE drops bytes whose byte-level character is not in the vocabulary
    ///   (SmolLM2 has no token for 0xF1 or 0xF2, for instance), exactly as llama.cpp does;
    ///   SentencePiece falls back to `<0xXX>` tokens, then the unknown token.
    public func encode(_ text: String, addSpecial: Bool = false, parseSpecial: Bool = true) -> [Int32] {
        var utf8 = Array(text.utf8)
        return utf8.withUnsafeMutableBufferPointer { mutable in
            let bytes = UnsafeBufferPointer(mutable)
            var output: [Int32] = []
            output.reserveCapacity(bytes.count / 3 + 4)
            if addSpecial && addsBOS, let bos { output.append(bos) }
            let fragments = partition(bytes, parseSpecial: parseSpecial)
            if let bpe {
                var scratch = BytePairEncoder.Scratch()
                for fragment in fragments {
                    switch fragment {
                    case .token(let id):
                        output.append(id)
                    case .text(let range):
                        let scalars = ScalarText(utf8: bytes, range: range)
                        for piece in preTokenizer.split(scalars) {
                            let lo = scalars.byteOffsets[piece.lowerBound]
                            let hi = scalars.byteOffsets[piece.upperBound]
                            bpe.encodeWord(UnsafeBufferPointer(rebasing: bytes[lo..<hi]), scratch: &scratch, into: &output)
                        }
                    }
                }
            } else if let spm {
                var previousWasSpecial = true
                for fragment in fragments {
                    switch fragment {
                    case .token(let id):
                        output.append(id)
                        previousWasSpecial = true
                    case .text(let range):
                        var escaped: [UInt8] = []
                        escaped.reserveCapacity(range.count + 8)
                        if addsSpacePrefix && previousWasSpecial { escaped.append(contentsOf: Tokenizer.spaceMarker) }
                        for b in bytes[range] {
                            if b == 0x20 { escaped.append(contentsOf: Tokenizer.spaceMarker) } else { escaped.append(b) }
                        }
                        escaped.withUnsafeBufferPointer { spm.encode($0, into: &output) }
                        previousWasSpecial = false
                    }
                }
            }
            if addSpecial && addsEOS, let eos { output.append(eos) }
            return output
        }
    }

    /// UTF-8 of `▁` (U+2581), SentencePiece's space marker.
    static let spaceMarker: [UInt8] = [0xE2, 0x96, 0x81]

    // MARK: - Decoding

    /// The bytes of one token as decoding emits them; control and unknown tokens are empty
    /// when `skipSpecial` is set. Ids outside the vocabulary yield U+FFFD's bytes.
    public func pieceBytes(of id: Int32, skipSpecial: Bool = false) -> [UInt8] {
        guard id >= 0 && Int(id) < pieces.count else { return Tokenizer.replacementBytes }
        if skipSpecial {
            let type = types[Int(id)]
            if type == .control || type == .unknown { return [] }
        }
        return pieces[Int(id)]
    }

    static let replacementBytes: [UInt8] = [0xEF, 0xBF, 0xBD]

    /// Decodes `ids` to raw bytes, as llama.cpp's `llama_detokenize` does without its optional
    /// `clean_spaces` post-processing (llama-server does not apply it to generated text either).
    ///
    /// With a space-prefixing SentencePiece vocabulary, one leading space of the first piece is
    /// removed (unless a BOS token that `skipSpecial` dropped came first, as in llama.cpp).
    public func decodeBytes(_ ids: [Int32], skipSpecial: Bool = false) -> [UInt8] {
        var slice = ids[...]
        var removeSpace = addsSpacePrefix
        if skipSpecial && addsBOS, let first = slice.first, first == bos {
            removeSpace = false
            slice = slice.dropFirst()
        }
        if skipSpecial && addsEOS, let last = slice.last, last == eos {
            slice = slice.dropLast()
        }
        var out: [UInt8] = []
        out.reserveCapacity(slice.count * 4)
        for id in slice {
            let piece = pieceBytes(of: id, skipSpecial: skipSpecial)
            if removeSpace, piece.first == 0x20 {
                out.append(contentsOf: piece.dropFirst())
            } else {
                out.append(contentsOf: piece)
            }
            removeSpace = false
        }
        return out
    }

    /// Decodes `ids` to text; invalid UTF-8 becomes U+FFFD and ids outside the vocabulary
    /// decode to U+FFFD (decoding never fails).
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        String(decoding: decodeBytes(ids, skipSpecial: skipSpecial), as: UTF8.self)
    }
}

extension String {
    /// Replaces SentencePiece's `▁` with spaces.
    func replacingSpaceMarkers() -> String {
        guard contains("\u{2581}") else { return self }
        return String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\u{2581}" ? " " : $0 }))
    }
}
