import APIRequests

/// Limits of a small model: every id and length check is reachable by short inputs.
let limits = RequestLimits(vocabularySize: 1000, maxModelLength: 512)

/// Decodes one input as each endpoint's request body and checks what a successful decode promises.
/// Any input must decode or throw an `APIError` whose JSON parses back; traps and hangs are bugs.
func exercise(_ body: [UInt8]) {
    func check(_ error: APIError) {
        guard (400..<500).contains(error.status.code) else { fatalError("a request got \(error.status.code)") }
        let parsed = try? JSONValue.parse(Array(error.json.serialized.utf8))
        guard let message = parsed?["error"]?["message"]?.string, message == error.message else {
            fatalError("error JSON does not round-trip: \(error.json.serialized)")
        }
    }
    func check(_ options: GenerationOptions) {
        if let maxTokens = options.maxTokens, !(1...limits.maxModelLength).contains(maxTokens) { fatalError("max_tokens \(maxTokens)") }
        guard (1...limits.maxChoices).contains(options.n) else { fatalError("n \(options.n)") }
        guard (try? options.sampling.validate(vocabularySize: limits.vocabularySize)) != nil else { fatalError("sampling out of range") }
        if let logprobs = options.logprobs, !(0...limits.maxLogprobs).contains(logprobs) { fatalError("logprobs \(logprobs)") }
        guard options.stop.count <= limits.maxStopStrings else { fatalError("stop count") }
    }
    func inVocabulary(_ ids: [Int32]) -> Bool { ids.allSatisfy { $0 >= 0 && Int($0) < limits.vocabularySize } }

    do {
        let request = try CompletionRequest(body: body, limits: limits)
        check(request.options)
        if case .tokens(let ids) = request.prompt, !inVocabulary(ids) { fatalError("prompt token out of range") }
    } catch { check(error) }
    do {
        let request = try ChatCompletionRequest(body: body, limits: limits)
        check(request.options)
        guard !request.messages.isEmpty else { fatalError("empty messages accepted") }
    } catch { check(error) }
    do { _ = try TokenizeRequest(body: body, limits: limits) } catch { check(error) }
    do {
        let request = try DetokenizeRequest(body: body, limits: limits)
        if !inVocabulary(request.tokens) { fatalError("detokenize token out of range") }
    } catch { check(error) }
    // Whatever parses must serialize and parse back to the same value.
    if let value = try? JSONValue.parse(body), (try? JSONValue.parse(Array(value.serialized.utf8))) != value {
        fatalError("JSON does not round-trip: \(value.serialized)")
    }
}

/// libFuzzer entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    exercise(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
