/// Pure-data description of a tokenizer, as read from GGUF `tokenizer.ggml.*` metadata.
///
/// Optional fields mean "not present in the metadata"; ``Tokenizer`` then applies the same
/// defaults as llama.cpp (see ``Tokenizer/init(vocabulary:)``).
public struct TokenizerVocabulary: Sendable, Equatable {
    /// `tokenizer.ggml.model`.
    public var model: TokenizerModelKind
    /// `tokenizer.ggml.pre` (byte-level BPE only); `nil` or `"default"` selects llama.cpp's default.
    public var preTokenizer: String?
    /// `tokenizer.ggml.tokens`: token text, indexed by id.
    public var tokens: [String]
    /// `tokenizer.ggml.token_type`; `nil` means every token is ``TokenType/normal``.
    public var tokenTypes: [TokenType]?
    /// `tokenizer.ggml.scores` (SentencePiece); `nil` means all zero.
    public var scores: [Float]?
    /// `tokenizer.ggml.merges`: `"left right"` rules, highest priority first (byte-level BPE).
    public var merges: [String]
    /// `tokenizer.ggml.bos_token_id`.
    public var bosTokenId: Int?
    /// `tokenizer.ggml.eos_token_id`.
    public var eosTokenId: Int?
    /// `tokenizer.ggml.eot_token_id`.
    public var eotTokenId: Int?
    /// `tokenizer.ggml.eom_token_id`.
    public var eomTokenId: Int?
    /// `tokenizer.ggml.unknown_token_id`.
    public var unknownTokenId: Int?
    /// `tokenizer.ggml.padding_token_id`.
    public var paddingTokenId: Int?
    /// `tokenizer.ggml.add_bos_token`.
    public var addBOS: Bool?
    /// `tokenizer.ggml.add_eos_token`.
    public var addEOS: Bool?
    /// `tokenizer.ggml.add_space_prefix`.
    public var addSpacePrefix: Bool?
    /// `general.name`: llama.cpp sets some token attributes by model name (Phi-3's special tokens
    /// strip the whitespace after them, see ``Tokenizer``).
    public var modelName: String?

    /// Creates a vocabulary description; every optional field defaults to "absent".
    public init(
        model: TokenizerModelKind,
        preTokenizer: String? = nil,
        tokens: [String],
        tokenTypes: [TokenType]? = nil,
        scores: [Float]? = nil,
        merges: [String] = [],
        bosTokenId: Int? = nil,
        eosTokenId: Int? = nil,
        eotTokenId: Int? = nil,
        eomTokenId: Int? = nil,
        unknownTokenId: Int? = nil,
        paddingTokenId: Int? = nil,
        addBOS: Bool? = nil,
        addEOS: Bool? = nil,
        addSpacePrefix: Bool? = nil,
        modelName: String? = nil
    ) {
        self.model = model
        self.preTokenizer = preTokenizer
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.scores = scores
        self.merges = merges
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.eotTokenId = eotTokenId
        self.eomTokenId = eomTokenId
        self.unknownTokenId = unknownTokenId
        self.paddingTokenId = paddingTokenId
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
        self.modelName = modelName
    }
}
