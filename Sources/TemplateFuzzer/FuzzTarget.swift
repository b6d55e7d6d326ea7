import ChatTemplate

/// The fuzz input format: byte 0 selects the limits (bit 0: small limits) and one of the
/// realistic contexts (the other bits); the rest, up to an optional NUL byte, is the template
/// source (decoded as UTF-8, invalid bytes replaced); after the NUL comes JSON whose top-level
/// object's keys are added to the context. Any input must render or throw a `TemplateError`, within
/// the limits; crashes, hangs and other errors are bugs.
struct FuzzInput {
    let smallLimits: Bool
    let contextIndex: Int
    let source: String
    let extraJSON: String?

    init(_ data: [UInt8]) {
        let selector = data.first ?? 0
        smallLimits = selector & 1 == 1
        contextIndex = Int(selector >> 1) % FuzzContexts.all.count
        let rest = data.dropFirst()
        if let nul = rest.firstIndex(of: 0) {
            source = String(decoding: rest[rest.startIndex..<nul], as: UTF8.self)
            extraJSON = String(decoding: rest[(nul + 1)...], as: UTF8.self)
        } else {
            source = String(decoding: rest, as: UTF8.self)
            extraJSON = nil
        }
    }
}

/// The default limits, except for smaller work and step budgets: the full 512 MiB and a million
/// steps take seconds per input in a sanitized build (a 400,000-iteration loop took 36 s on a busy
/// machine, past libFuzzer's timeout), and the fuzzer is after crashes, not the budgets' size.
let defaultFuzzLimits: ChatTemplate.Limits = {
    var limits = ChatTemplate.Limits()
    limits.maxWorkBytes = 32 << 20
    limits.maxSteps = 100_000
    return limits
}()

/// Limits small enough that hostile inputs hit them quickly.
let smallFuzzLimits: ChatTemplate.Limits = {
    var limits = ChatTemplate.Limits()
    limits.maxOutputBytes = 4096
    limits.maxSteps = 2000
    limits.maxCallDepth = 8
    limits.maxNestingDepth = 40
    return limits
}()

/// The outcome of one fuzz input, for the reproducer's report.
enum FuzzOutcome {
    case rendered(bytes: Int)
    case failed(TemplateError)
}

/// Parses and renders one input; traps (the fuzzer's "crash") on anything but success or a `TemplateError`,
/// or on output longer than the limit.
@discardableResult
func exercise(_ data: [UInt8]) -> FuzzOutcome {
    let input = FuzzInput(data)
    let limits = input.smallLimits ? smallFuzzLimits : defaultFuzzLimits
    var context = FuzzContexts.all[input.contextIndex]
    if let json = input.extraJSON {
        if let value = try? TemplateValue(json: json, maxDepth: 64), case .dictionary(let extra) = value {
            for (key, item) in extra.entries { context[key] = item }
        }
    }
    do {
        var template = try ChatTemplate(input.source, limits: limits)
        template.fixedDate = FuzzContexts.fixedDate
        let output = try template.render(context)
        guard output.utf8.count <= limits.maxOutputBytes else {
            fatalError("output of \(output.utf8.count) bytes exceeds the limit of \(limits.maxOutputBytes)")
        }
        return .rendered(bytes: output.utf8.count)
    } catch let error as TemplateError {
        _ = error.description
        return .failed(error)
    } catch {
        fatalError("render threw a non-TemplateError: \(error)")
    }
}

/// libFuzzer entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes: [UInt8] = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    exercise(bytes)
    return 0
}
