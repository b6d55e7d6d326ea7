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
    /// run: 26.0 / 24.9 vs 47.1 / 39.2 tok/s); a matrix's tail past its last whole huge page stays on
    /// ordinary pages, and so do the default model's sub-2 MiB matrices.
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
        let pageSize = 4096
        let used = (size + pageSize - 1) / pageSize * pageSize
        let length = used + Self.hugePage
        if size >= Self.hugePageThreshold,
            let raw = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED
        {
            // Keep only [start, start + used): the mapping ends at the buffer's last 4 KiB page, so
            // the kernel backs the whole 2 MiB extents with huge pages and the tail with small
            // ones (advising the mapping up to the next 2 MiB made each buffer's tail a huge page:
            // up to 2 MiB of untouched memory per weight matrix).
            let address = Int(bitPattern: raw)
            let lead = (address + Self.hugePage - 1) / Self.hugePage * Self.hugePage - address
            let start = raw + lead
            if lead > 0 { munmap(raw, lead) }
            if length - lead - used > 0 { munmap(start + used, length - lead - used) }
            #if os(Linux)
            madvise(start, used, Int32(MADV_HUGEPAGE))
            #endif
            mapping = start
            mappingLength = used
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
