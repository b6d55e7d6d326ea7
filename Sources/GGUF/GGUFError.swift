/// Everything that can be wrong with a GGUF file (or a dequantization request).
///
/// Each case carries what is needed to name the problem: which key or tensor, at which offset,
/// with which value. `description` renders it as one sentence.
public enum GGUFError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened, inspected or mapped.
    case cannotOpen(path: String, reason: String)
    /// The file ends (at `fileSize`) before `needed` bytes of `what` at `offset` could be read.
    case truncated(what: String, offset: Int, needed: Int, fileSize: Int)
    /// The first four bytes are not `GGUF`.
    case badMagic(UInt32)
    /// A version other than 2 or 3.
    case unsupportedVersion(UInt32)
    /// A count read from the file (`what`) cannot fit in the `remaining` bytes after `offset`.
    case countTooLarge(what: String, count: UInt64, offset: Int, remaining: Int)
    /// A string length read from the file exceeds the remaining bytes.
    case stringTooLong(what: String, length: UInt64, offset: Int, remaining: Int)
    /// A key or tensor name that is not valid UTF-8.
    case invalidUTF8(what: String, offset: Int)
    /// A metadata value type number GGUF does not define.
    case unknownValueType(key: String, rawType: UInt32, offset: Int)
    /// Arrays nested deeper than the reader allows.
    case arrayNestingTooDeep(key: String, depth: Int)
    /// Metadata arrays hold more elements in total than the reader accepts.
    case tooManyMetadataValues(key: String)
    /// The same metadata key appears twice.
    case duplicateKey(String)
    /// Two tensors share a name.
    case duplicateTensorName(String)
    /// A well-known key holds a value of the wrong type.
    case wrongValueType(key: String, expected: String, actual: String)
    /// `general.alignment` is zero, not a power of two, or unreasonably large.
    case invalidAlignment(UInt64)
    /// A tensor with more than 4 dimensions.
    case tooManyDimensions(tensor: String, count: UInt32)
    /// A dimension that does not fit in `Int`.
    case invalidDimension(tensor: String, index: Int, value: UInt64)
    /// The product of a tensor's dimensions (or its byte size) overflows.
    case elementCountOverflow(tensor: String, dimensions: [UInt64])
    /// A tensor type number ggml does not define.
    case unknownTensorType(tensor: String, rawType: UInt32)
    /// A tensor type ggml defines but Tandem cannot compute with.
    case unsupportedTensorType(tensor: String, type: GGMLType)
    /// A row length that is not a whole number of the type's blocks.
    case rowNotWholeBlocks(tensor: String, type: GGMLType, rowLength: Int)
    /// A tensor data offset (relative to the data section) that is not a multiple of the alignment.
    case misalignedTensorOffset(tensor: String, offset: UInt64, alignment: Int)
    /// A tensor whose data range `[start, end)` does not lie inside the file.
    case tensorOutOfBounds(tensor: String, start: UInt64, end: UInt64, fileSize: Int)
    /// `dequantize` was asked for a count that is not a whole number of blocks.
    case countNotWholeBlocks(type: GGMLType, count: Int)
    /// `dequantize` was given fewer bytes than `count` elements need.
    case bufferTooSmall(type: GGMLType, count: Int, needed: Int, available: Int)
    /// `dequantize` was asked for a type it does not implement.
    case unsupportedDequantization(GGMLType)

    /// A one-sentence explanation naming what is wrong.
    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot open GGUF file '\(path)': \(reason)"
        case .truncated(let what, let offset, let needed, let fileSize):
            return "file truncated while reading \(what): needed \(needed) bytes at offset \(offset), file size is \(fileSize)"
        case .badMagic(let magic):
            let hex = String(magic, radix: 16)
            return "not a GGUF file: magic is 0x\(hex), expected 0x46554747 ('GGUF')"
        case .unsupportedVersion(let version):
            if version == 1 {
                return "GGUF version 1 is not supported (it uses 32-bit counts); only versions 2 and 3 are"
            }
            if version & 0xFFFF == 0 && version != 0 {
                return "GGUF version \(version) is not supported (a big-endian file?); only versions 2 and 3 are"
            }
            return "GGUF version \(version) is not supported; only versions 2 and 3 are"
        case .countTooLarge(let what, let count, let offset, let remaining):
            return "\(what) \(count) at offset \(offset) exceeds what the remaining \(remaining) bytes could hold"
        case .stringTooLong(let what, let length, let offset, let remaining):
            return "string length \(length) of \(what) at offset \(offset) exceeds the remaining \(remaining) bytes"
        case .invalidUTF8(let what, let offset):
            return "\(what) at offset \(offset) is not valid UTF-8"
        case .unknownValueType(let key, let rawType, let offset):
            return "unknown metadata value type \(rawType) for key '\(key)' at offset \(offset)"
        case .arrayNestingTooDeep(let key, let depth):
            return "arrays nested deeper than \(depth) levels in key '\(key)'"
        case .tooManyMetadataValues(let key):
            return "metadata arrays hold too many elements in total (at key '\(key)')"
        case .duplicateKey(let key):
            return "duplicate metadata key '\(key)'"
        case .duplicateTensorName(let name):
            return "duplicate tensor name '\(name)'"
        case .wrongValueType(let key, let expected, let actual):
            return "metadata key '\(key)' has type \(actual), expected \(expected)"
        case .invalidAlignment(let value):
            return "general.alignment \(value) is invalid (must be a nonzero power of two, at most \(GGUFFile.maxAlignment))"
        case .tooManyDimensions(let tensor, let count):
            return "tensor '\(tensor)' has dimension count \(count) > 4"
        case .invalidDimension(let tensor, let index, let value):
            return "tensor '\(tensor)' dimension \(index) is \(value), which is too large"
        case .elementCountOverflow(let tensor, let dimensions):
            return "tensor '\(tensor)' element count or byte size overflows (dimensions \(dimensions))"
        case .unknownTensorType(let tensor, let rawType):
            return "tensor '\(tensor)' has unknown type number \(rawType)"
        case .unsupportedTensorType(let tensor, let type):
            return "tensor '\(tensor)' has unsupported type \(type)"
        case .rowNotWholeBlocks(let tensor, let type, let rowLength):
            return "tensor '\(tensor)' row length \(rowLength) is not a multiple of the \(type) block size \(type.blockSize)"
        case .misalignedTensorOffset(let tensor, let offset, let alignment):
            return "tensor '\(tensor)' data offset \(offset) is not a multiple of the alignment \(alignment)"
        case .tensorOutOfBounds(let tensor, let start, let end, let fileSize):
            return "tensor '\(tensor)' data [\(start), \(end)) extends past end of file (size \(fileSize))"
        case .countNotWholeBlocks(let type, let count):
            return "cannot dequantize \(count) elements of \(type): not a multiple of the block size \(type.blockSize)"
        case .bufferTooSmall(let type, let count, let needed, let available):
            return "cannot dequantize \(count) elements of \(type): needs \(needed) bytes, buffer has \(available)"
        case .unsupportedDequantization(let type):
            return "dequantization of \(type) is not supported"
        }
    }
}
