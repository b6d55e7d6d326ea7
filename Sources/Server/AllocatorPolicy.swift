import Foundation

/// How the server asks glibc's allocator to behave, set once at start.
///
/// By default glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so
/// after a few multi-megabyte request bodies those land in the heap arenas instead, where they
/// fragment and stay resident; and it creates up to eight arenas per core, one for each thread
/// that allocates. A server whose handlers run on many threads then keeps the high-water mark of
/// every burst. A fixed threshold (large blocks are mapped and returned to the system when freed)
/// and two arenas per core keep its resident memory at what its load needs.
public enum AllocatorPolicy {
    /// Applies the policy (no effect where the C library is not glibc).
    public static func apply() {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        let mmapThreshold: Int32 = -3, arenaMax: Int32 = -8  // M_MMAP_THRESHOLD, M_ARENA_MAX in <malloc.h>
        _ = mallopt(mmapThreshold, 256 << 10)
        _ = mallopt(arenaMax, Int32(clamping: 2 * ProcessInfo.processInfo.activeProcessorCount))
    }
}
