import GGUF

#if TANDEM_AVX2
import _Builtin_intrinsics.intel
#endif

/// The matrix product for float weights (F32, F16, BF16) on float activations.
///
/// Per (row, token): 8 lanes accumulate columns `c ≡ lane (mod 8)` in column order with FMA, the lanes
/// are reduced in `SIMDKernels.horizontalSum`'s fixed order, then any tail columns are added in order.
enum FloatMatmul {
    static func run(
        _ w: WeightMatrix, _ input: UnsafePointer<Float>, _ tokens: Int,
        _ output: UnsafeMutablePointer<Float>, _ pool: WorkerPool
    ) {
        let type = w.type
        pool.parallelFor(w.rows) { rows in
            for row in rows {
                let rowData = w.data + row * w.rowBytes
                var token = 0
                while token < tokens {
                    let count = min(4, tokens - token)
                    switch type {
                    case .f32: tile(F32Loader.self, rowData, w.columns, input, token, count, output, w.rows, row)
                    case .f16: tile(F16Loader.self, rowData, w.columns, input, token, count, output, w.rows, row)
                    default: tile(BF16Loader.self, rowData, w.columns, input, token, count, output, w.rows, row)
                    }
                    token += count
                }
            }
        }
    }

    @inline(__always)
    static func tile<L: FloatLoader>(
        _ loader: L.Type, _ rowData: UnsafeRawPointer, _ columns: Int,
        _ input: UnsafePointer<Float>, _ token: Int, _ count: Int,
        _ output: UnsafeMutablePointer<Float>, _ rows: Int, _ row: Int
    ) {
        var acc0 = SIMD8<Float>.zero, acc1 = SIMD8<Float>.zero, acc2 = SIMD8<Float>.zero, acc3 = SIMD8<Float>.zero
        let x0 = UnsafeRawPointer(input + token * columns)
        let stride = columns * 4
        let vectorColumns = columns & ~7
        var c = 0
        while c < vectorColumns {
            let wv = L.load8(rowData, c)
            acc0 = acc0.addingProduct(wv, x0.loadUnaligned(fromByteOffset: c * 4, as: SIMD8<Float>.self))
            if count > 1 { acc1 = acc1.addingProduct(wv, x0.loadUnaligned(fromByteOffset: stride + c * 4, as: SIMD8<Float>.self)) }
            if count > 2 { acc2 = acc2.addingProduct(wv, x0.loadUnaligned(fromByteOffset: 2 * stride + c * 4, as: SIMD8<Float>.self)) }
            if count > 3 { acc3 = acc3.addingProduct(wv, x0.loadUnaligned(fromByteOffset: 3 * stride + c * 4, as: SIMD8<Float>.self)) }
            c += 8
        }
        @inline(__always)
        func finish(_ i: Int, _ acc: SIMD8<Float>) {
            var sum = SIMDKernels.horizontalSum(acc)
            let x = input + (token + i) * columns
            for tail in vectorColumns..<columns { sum = sum.addingProduct(L.load1(rowData, tail), x[tail]) }
            output[(token + i) * rows + row] = sum
        }
        finish(0, acc0)
        if count > 1 { finish(1, acc1) }
        if count > 2 { finish(2, acc2) }
        if count > 3 { finish(3, acc3) }
    }
}

/// Converts stored float weights to Float.
protocol FloatLoader {
    /// Bytes of a row of `elements` stored values.
    static func rowBytes(_ elements: Int) -> Int
    static func load8(_ row: UnsafeRawPointer, _ index: Int) -> SIMD8<Float>
    static func load1(_ row: UnsafeRawPointer, _ index: Int) -> Float
}

enum F32Loader: FloatLoader {
    static func rowBytes(_ elements: Int) -> Int { elements * 4 }
    @inline(__always) static func load8(_ row: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        row.loadUnaligned(fromByteOffset: index &* 4, as: SIMD8<Float>.self)
    }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ index: Int) -> Float {
        row.loadUnaligned(fromByteOffset: index * 4, as: Float.self)
    }
}

enum F16Loader: FloatLoader {
    static func rowBytes(_ elements: Int) -> Int { elements * 2 }
    @inline(__always) static func load8(_ row: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        #if TANDEM_AVX2
        return _mm256_cvtph_ps(_mm_loadu_si128((row + index &* 2).assumingMemoryBound(to: __m128i.self)))
        #else
        let h = row.loadUnaligned(fromByteOffset: index * 2, as: SIMD8<UInt16>.self)
        var out = SIMD8<Float>()
        for i in 0..<8 { out[i] = Float(Float16(bitPattern: h[i])) }
        return out
        #endif
    }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ index: Int) -> Float {
        SIMDKernels.half(row + index * 2)
    }
}

enum BF16Loader: FloatLoader {
    static func rowBytes(_ elements: Int) -> Int { elements * 2 }
    @inline(__always) static func load8(_ row: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        let h = row.loadUnaligned(fromByteOffset: index * 2, as: SIMD8<UInt16>.self)
        let bits = SIMD8<UInt32>(truncatingIfNeeded: h) &<< 16
        return unsafeBitCast(bits, to: SIMD8<Float>.self)
    }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ index: Int) -> Float {
        Float(bitPattern: UInt32(row.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)) << 16)
    }
}

/// Q8_0 rows (`KVElementType.q8_0`): blocks of 32 values, each a float32 scale followed by 32
/// signed bytes. `index` is a multiple of 8, so the 8 values lie in one block.
enum Q8Loader: FloatLoader {
    static func rowBytes(_ elements: Int) -> Int { elements / 32 * 36 }
    @inline(__always) static func load8(_ row: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        let block = row + (index &>> 5) &* 36
        let quants = block.loadUnaligned(fromByteOffset: 4 &+ (index & 31), as: SIMD8<Int8>.self)
        return SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: quants)) * block.loadUnaligned(as: Float.self)
    }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ index: Int) -> Float {
        let block = row + (index >> 5) * 36
        return Float(block.load(fromByteOffset: 4 + index & 31, as: Int8.self)) * block.loadUnaligned(as: Float.self)
    }
}
