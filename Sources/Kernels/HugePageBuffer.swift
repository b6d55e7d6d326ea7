#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Zero-filled memory for the large buffers that kernels stream through (repacked weights, the KV
/// cache). From `hugePageThreshold` bytes up it is an anonymous mapping aligned to 2 MiB and advised
/// for transparent huge pages (fewer TLB misses on every pass; pages become resident when first
/// touched). Smaller buffers use ordinary pages: a huge page would make even a small matrix resident
/// as 2 MiB.
///
/// `@unchecked Sendable`: it only owns the mapping; who writes its bytes when is its owner's contract
/// (weights: once at load; scratch: one serialized forward).
public final class HugePageBuffer: @unchecked Sendable {
    /// The first byte (2 MiB aligned for a mapped buffer, else 64-byte aligned).
    public let base: UnsafeMutableRawPointer
    /// Usable bytes from `base`.
    public let byteCount: Int
    private let mapping: UnsafeMutableRawPointer?
    private let mappingLength: Int

    static let hugePage = 2 << 20
    /// The smallest buffer that gets huge pages (`TANDEM_HUGEPAGE_MIB=<n>` overrides it, for tuning).
    /// 2 MiB: every weight matrix of a 1B+ model streams from huge pages (at 16 MiB, the 1B shape's
    /// 2-10 MB matrices were on 4 KiB pages and single-stream decode ran at ~60% of the speed, A/B in one
    /// run: 26.0 / 24.9 vs 47.1 / 39.2 tok/s); a matrix wastes at most one partial huge page, and the
    /// default model's sub-2 MiB matrices keep ordinary pages.
    static let hugePageThreshold: Int = {
        if let text = getenv("TANDEM_HUGEPAGE_MIB"), let mebibytes = Int(String(cString: text)), (1...1024).contains(mebibytes) {
            return mebibytes << 20
        }
        return 2 << 20
    }()

    /// Reserves `byteCount` zeroed bytes.
    public init(byteCount: Int) {
        let size = max(byteCount, 1)
        self.byteCount = size
        let length = (size + Self.hugePage - 1) / Self.hugePage * Self.hugePage + Self.hugePage
        if size >= Self.hugePageThreshold,
            let raw = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED
        {
            let address = Int(bitPattern: raw)
            let aligned = (address + Self.hugePage - 1) / Self.hugePage * Self.hugePage
            let start = raw + (aligned - address)
            #if os(Linux)
            madvise(start, length - (aligned - address), Int32(MADV_HUGEPAGE))
            #endif
            mapping = raw
            mappingLength = length
            base = start
        } else {
            mapping = nil
            mappingLength = 0
            base = .allocate(byteCount: size, alignment: 64)
            base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        }
    }

    deinit {
        if let mapping {
            munmap(mapping, mappingLength)
        } else {
            base.deallocate()
        }
    }
}
