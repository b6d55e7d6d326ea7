import Testing

@testable import Kernels

struct PrefetchSlicesTests {
    /// Every line of the range is asked for once, in at most `slices` slices, whatever the range's length
    /// (a partial last line included).
    @Test(arguments: [(0, 5), (1, 5), (64, 1), (65, 2), (18_432, 6), (18_432, 11), (26_880, 3), (4_096, 200)])
    func slicesCoverTheRangeOnce(bytes: Int, slices: Int) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        defer { buffer.deallocate() }
        var ahead = PrefetchSlices(buffer, bytes: bytes, slices: slices)
        var perSlice: [Int] = []
        for _ in 0..<slices { perSlice.append(ahead.next()) }
        #expect(perSlice.reduce(0, +) == (bytes + 63) / 64)
        #expect(ahead.next() == 0)
        let largest = perSlice.max() ?? 0
        #expect(largest <= (bytes / 64 + slices) / slices)
    }
}
