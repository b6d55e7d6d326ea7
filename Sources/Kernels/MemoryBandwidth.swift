#if TANDEM_AVX2
import _Builtin_intrinsics.intel
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The machine's memory read bandwidth, the limit of a single-stream decode step (which reads every
/// weight once): `threads` threads each stream their contiguous share of a buffer far larger than
/// the last-level cache with 256-bit loads, several passes, and the best pass counts (other processes
/// only ever slow a pass down). For `tandem bench memory` and `tandem bench single`.
public enum MemoryBandwidth {
    /// One measurement.
    public struct Result: Sendable {
        /// Bytes read per pass.
        public var bytes: Int
        /// Threads that read.
        public var threads: Int
        /// Seconds of each pass.
        public var passSeconds: [Double]
        /// The best pass, in 1e9 bytes per second.
        public var gigabytesPerSecond: Double { Double(bytes) / (passSeconds.min() ?? .infinity) / 1e9 }
        /// The median pass, in 1e9 bytes per second.
        public var medianGigabytesPerSecond: Double {
            let sorted = passSeconds.sorted()
            return sorted.isEmpty ? 0 : Double(bytes) / sorted[sorted.count / 2] / 1e9
        }
    }

    /// Reads a `bytes` buffer (rounded to 4 KiB; 1 GiB by default, 32x a 32 MiB L3) `passes` times on
    /// `pool`'s threads. The buffer is written once first so that every page is resident.
    public static func measure(pool: WorkerPool, bytes: Int = 1 << 30, passes: Int = 8) -> Result {
        let size = max(bytes, 1 << 20) / 4096 * 4096
        let buffer = HugePageBuffer(byteCount: size)
        let base = buffer.base
        pool.parallelFor(size / 4096) { pages in
            (base + pages.lowerBound * 4096).initializeMemory(as: UInt8.self, repeating: 1, count: pages.count * 4096)
        }
        var seconds: [Double] = []
        let sink = UnsafeMutablePointer<Int64>.allocate(capacity: pool.threadCount * 8)
        defer { sink.deallocate() }
        for _ in 0..<max(passes, 1) {
            let start = MonotonicClock.now()
            pool.run { index, total in
                let chunks = WorkerPool.split(size / 256, part: index, of: total)
                sink[index * 8] = read(UnsafeRawPointer(base + chunks.lowerBound * 256), chunks: chunks.count)
            }
            seconds.append(MonotonicClock.now() - start)
        }
        return Result(bytes: size, threads: pool.threadCount, passSeconds: seconds)
    }

    /// Reads `chunks` x 256 bytes from `p` with 256-bit loads (8 independent accumulators) and returns
    /// a value that depends on every byte, so that no load can be dropped.
    static func read(_ p: UnsafeRawPointer, chunks: Int) -> Int64 {
        #if TANDEM_AVX2
        var a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        var q = p
        for _ in 0..<chunks {
            @inline(__always) func load(_ offset: Int) -> __m256i {
                _mm256_loadu_si256((q + offset).assumingMemoryBound(to: __m256i.self))
            }
            a0 = _mm256_xor_si256(a0, load(0))
            a1 = _mm256_xor_si256(a1, load(32))
            a2 = _mm256_xor_si256(a2, load(64))
            a3 = _mm256_xor_si256(a3, load(96))
            a4 = _mm256_xor_si256(a4, load(128))
            a5 = _mm256_xor_si256(a5, load(160))
            a6 = _mm256_xor_si256(a6, load(192))
            a7 = _mm256_xor_si256(a7, load(224))
            q += 256
        }
        let all = _mm256_xor_si256(
            _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3)),
            _mm256_xor_si256(_mm256_xor_si256(a4, a5), _mm256_xor_si256(a6, a7)))
        let lanes = unsafeBitCast(all, to: SIMD4<Int64>.self)
        return lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3]
        #else
        var acc = SIMD4<Int64>(repeating: 0)
        var q = p
        for _ in 0..<(chunks * 8) {
            acc &+= q.loadUnaligned(as: SIMD4<Int64>.self)
            q += 32
        }
        return acc[0] ^ acc[1] ^ acc[2] ^ acc[3]
        #endif
    }
}

/// Seconds from a monotonic clock.
enum MonotonicClock {
    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
