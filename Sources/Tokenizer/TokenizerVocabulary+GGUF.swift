import GGUF

extension TokenizerVocabulary {
    /// Reads `tokenizer.ggml.*` metadata from a GGUF file's key/value table.
    ///
    /// - Throws: ``TokenizerError/missingKey(_:)`` when `tokenizer.ggml.model` or
    ///   `tokenizer.ggml.tokens` is absent (or `merges` for a `gpt2` model),
    ///   ``TokenizerError/unknownModel(_:)`` for a model other than `gpt2`/`llama`, and
    ///   ``TokenizerError/invalidValue(key:reason:)`` for keys of the wrong type.
    public init(metadata: [String: GGUFValue]) throws {
        func value(_ key: String) -> GGUFValue? { metadata[key] }
        func string(_ key: String) throws -> String? {
            guard let v = value(key) else { return nil }
            guard let s = v.string else { throw TokenizerError.invalidValue(key: key, reason: "expected a string, found \(v.typeName)") }
            return s
        }
        func int(_ key: String) throws -> Int? {
            guard let v = value(key) else { return nil }
            guard let i = v.int else { throw TokenizerError.invalidValue(key: key, reason: "expected an integer, found \(v.typeName)") }
            return i
        }
        func bool(_ key: String) throws -> Bool? {
            guard let v = value(key) else { return nil }
            guard let b = v.bool else { throw TokenizerError.invalidValue(key: key, reason: "expected a bool, found \(v.typeName)") }
            return b
        }

        guard let modelName = try string("tokenizer.ggml.model") else {
            throw TokenizerError.missingKey("tokenizer.ggml.model")
        }
        guard let model = TokenizerModelKind(rawValue: modelName) else {
            throw TokenizerError.unknownModel(modelName)
        }
        guard let tokensValue = value("tokenizer.ggml.tokens") else {
            throw TokenizerError.missingKey("tokenizer.ggml.tokens")
        }
        guard let tokens = tokensValue.strings else {
            throw TokenizerError.invalidValue(key: "tokenizer.ggml.tokens", reason: "expected an array of strings")
        }
        var types: [TokenType]?
        if let v = value("tokenizer.ggml.token_type") {
            guard let raw = v.ints else {
                throw TokenizerError.invalidValue(key: "tokenizer.ggml.token_type", reason: "expected an array of integers")
            }
            types = raw.map(TokenType.init(raw:))
        }
        var scores: [Float]?
        if let v = value("tokenizer.ggml.scores") {
            guard let raw = v.floats else {
                throw TokenizerError.invalidValue(key: "tokenizer.ggml.scores", reason: "expected an array of numbers")
            }
            scores = raw
        }
        var merges: [String] = []
        if let v = value("tokenizer.ggml.merges") {
            guard let raw = v.strings else {
                throw TokenizerError.invalidValue(key: "tokenizer.ggml.merges", reason: "expected an array of strings")
            }
            merges = raw
        } else if model == .gpt2 {
            throw TokenizerError.missingKey("tokenizer.ggml.merges")
        }
        self.init(
            model: model,
            preTokenizer: try string("tokenizer.ggml.pre"),
            tokens: tokens,
            tokenTypes: types,
            scores: scores,
            merges: merges,
            bosTokenId: try int("tokenizer.ggml.bos_token_id"),
            eosTokenId: try int("tokenizer.ggml.eos_token_id"),
            eotTokenId: try int("tokenizer.ggml.eot_token_id"),
            eomTokenId: try int("tokenizer.ggml.eom_token_id"),
            unknownTokenId: try int("tokenizer.ggml.unknown_token_id"),
            paddingTokenId: try int("tokenizer.ggml.padding_token_id"),
            addBOS: try bool("tokenizer.ggml.add_bos_token"),
            addEOS: try bool("tokenizer.ggml.add_eos_token"),
            addSpacePrefix: try bool("tokenizer.ggml.add_space_prefix"),
            modelName: value("general.name")?.string
        )
    }
}

extension Tokenizer {
    /// Builds a tokenizer from a GGUF file's metadata (see ``TokenizerVocabulary/init(metadata:)``
    /// and ``init(vocabulary:)``).
    public convenience init(metadata: [String: GGUFValue]) throws {
        try self.init(vocabulary: TokenizerVocabulary(metadata: metadata))
    }
}
