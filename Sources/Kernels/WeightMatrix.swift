import GGUF

/// A weight matrix in GGUF layout: `rows` rows (output features) of `columns` elements (input
/// features), each row stored as `columns / type.blockSize` consecutive blocks of `type`.
///
/// The matrix does not own `data`; the caller (usually a memory-mapped model file) keeps it alive.
/// A matrix made by `interleaving(_:)` instead holds its rows in the `InterleavedWeights` layout, which
/// it owns; `data` then points at those packed bytes.
///
/// `@unchecked Sendable`: a read-only view; the bytes it points at are never written after load.
public struct WeightMatrix: @unchecked Sendable {
    /// The element type of the stored rows.
    public let type: GGMLType
    /// Number of rows (output features).
    public let rows: Int
    /// Number of elements per row (input features).
    public let columns: Int
    /// The first byte of row 0.
    public let data: UnsafeRawPointer
    /// Bytes from one row to the next.
    public let rowBytes: Int
    /// The rows repacked for the vector kernels, when this matrix was made by `interleaving(_:)`.
    let interleaved: InterleavedWeights?

    /// Describes a weight matrix stored at `data`.
    ///
    /// - Precondition: `type` is supported by `matmul` and `columns` is a multiple of its block size
    ///   (the model loader validates this before building matrices from a file).
    public init(type: GGMLType, rows: Int, columns: Int, data: UnsafeRawPointer) {
        precondition(WeightMatrix.supports(type), "matmul does not support \(type)")
        precondition(
            rows >= 0 && columns > 0 && columns % type.blockSize == 0,
            "columns (\(columns)) must be a positive multiple of \(type.blockSize) for \(type)")
        self.type = type
        self.rows = rows
        self.columns = columns
        self.data = data
        self.rowBytes = columns / type.blockSize * type.bytesPerBlock
        self.interleaved = nil
    }

    init(type: GGMLType, rows: Int, columns: Int, interleaved: InterleavedWeights) {
        self.type = type
        self.rows = rows
        self.columns = columns
        self.data = UnsafeRawPointer(interleaved.data)
        self.rowBytes = columns / type.blockSize * type.bytesPerBlock
        self.interleaved = interleaved
    }

    /// Whether `matmul` can multiply matrices of `type`.
    public static func supports(_ type: GGMLType) -> Bool {
        switch type {
        case .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K: return true
        default: return false
        }
    }

    /// Total bytes of weight data.
    public var byteCount: Int { rows * rowBytes }

    /// Whether the rows were repacked (and the matrix owns them).
    public var isRepacked: Bool { interleaved != nil }

    /// Bytes a product with one token reads: the repacked bytes when interleaved, else the file's.
    public var streamedBytes: Int { interleaved?.byteCount ?? byteCount }
}
