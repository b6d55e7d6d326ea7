/// One entry of a GGUF file's tensor table, with its data range already validated.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    public let name: String
    /// Extents in ggml order: `dimensions[0]` is the innermost (row length). A matrix of shape
    /// `[ne0, ne1]` has `ne1` rows of `ne0` elements.
    public let dimensions: [Int]
    /// The element type.
    public let type: GGMLType
    /// Absolute byte offset of the tensor's data in the file (includes the data-section start).
    public let offset: Int
    /// Size of the tensor's data in bytes.
    public let byteCount: Int

    /// Creates a tensor description; the reader validates the values before calling this.
    public init(name: String, dimensions: [Int], type: GGMLType, offset: Int, byteCount: Int) {
        self.name = name
        self.dimensions = dimensions
        self.type = type
        self.offset = offset
        self.byteCount = byteCount
    }

    /// Total number of elements (product of the dimensions; 1 for a tensor with no dimensions).
    public var elementCount: Int {
        dimensions.reduce(1, *)
    }

    /// Length of one row (`dimensions[0]`, or 1 for a tensor with no dimensions).
    public var rowLength: Int {
        dimensions.first ?? 1
    }

    /// Number of rows (`elementCount / rowLength`).
    public var rowCount: Int {
        let length = rowLength
        return length == 0 ? 0 : elementCount / length
    }
}
