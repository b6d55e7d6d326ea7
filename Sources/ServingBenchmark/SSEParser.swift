/// An incremental parser for a `text/event-stream` body (Server-Sent Events).
///
/// Feed it the body's bytes in whatever pieces the network delivers; it returns the `data` of
/// each complete event. Follows the SSE rules that matter for OpenAI-style streams: lines end in
/// LF, CRLF or CR; a blank line ends an event; `data:` lines (one optional space after the colon)
/// are joined with LF; lines starting with `:` are comments (keep-alive pings); other fields
/// (`event:`, `id:`, `retry:`) are ignored. Pieces may split lines, CRLF pairs and UTF-8
/// sequences anywhere.
public struct SSEParser: Sendable {
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var lastWasCarriageReturn = false

    /// Creates an empty parser.
    public init() {}

    /// Consumes `bytes` and returns the data of every event completed by them, in order.
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) -> [String] where Bytes.Element == UInt8 {
        var events: [String] = []
        for byte in bytes {
            if lastWasCarriageReturn {
                lastWasCarriageReturn = false
                if byte == 0x0A { continue }  // the LF of a CRLF pair
            }
            switch byte {
            case 0x0A:
                endLine(into: &events)
            case 0x0D:
                lastWasCarriageReturn = true
                endLine(into: &events)
            default:
                line.append(byte)
            }
        }
        return events
    }

    /// Ends the stream: an event left without its closing blank line is still delivered.
    public mutating func finish() -> [String] {
        var events: [String] = []
        if !line.isEmpty { endLine(into: &events) }
        dispatch(into: &events)
        return events
    }

    private mutating func endLine(into events: inout [String]) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            dispatch(into: &events)
            return
        }
        if line[0] == UInt8(ascii: ":") { return }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        guard line[..<colon].elementsEqual("data".utf8) else { return }
        var valueStart = colon == line.endIndex ? colon : colon + 1
        if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        if hasData { data.append(0x0A) }
        data.append(contentsOf: line[valueStart...])
        hasData = true
    }

    private mutating func dispatch(into events: inout [String]) {
        guard hasData else { return }
        events.append(String(decoding: data, as: UTF8.self))
        data.removeAll(keepingCapacity: true)
        hasData = false
    }
}
