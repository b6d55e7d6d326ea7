#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only bytes backing a `GGUFFile`: either a private memory map of the file or an owned
/// heap copy. Freed (munmap / deallocate) in deinit.
///
/// `@unchecked Sendable`: the bytes are never written after initialization, so sharing the
/// pointer across threads is safe.
final class FileStorage: @unchecked Sendable {
    /// Start of the bytes (a valid, possibly dangling-but-unused pointer when `count == 0`).
    let base: UnsafeRawPointer
    /// Number of bytes.
    let count: Int
    private let isMapped: Bool

    /// The bytes as a buffer, valid while this object lives.
    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Copies `bytes` into an owned allocation.
    init(copying bytes: [UInt8]) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { source in
            if let start = source.baseAddress, source.count > 0 {
                memory.copyMemory(from: start, byteCount: source.count)
            }
        }
        base = UnsafeRawPointer(memory)
        count = bytes.count
        isMapped = false
    }

    /// Maps the file at `path` read-only (PROT_READ, MAP_PRIVATE).
    init(mapping path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw GGUFError.cannotOpen(path: path, reason: Self.errnoText())
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw GGUFError.cannotOpen(path: path, reason: Self.errnoText())
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError.cannotOpen(path: path, reason: "not a regular file")
        }
        guard let size = Int(exactly: info.st_size), size >= 0 else {
            throw GGUFError.cannotOpen(path: path, reason: "file size \(info.st_size) is invalid")
        }
        if size == 0 {
            // mmap rejects length 0; use an empty owned buffer so parsing reports truncation.
            let memory = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64)
            base = UnsafeRawPointer(memory)
            count = 0
            isMapped = false
            return
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw GGUFError.cannotOpen(path: path, reason: "mmap failed: \(Self.errnoText())")
        }
        base = UnsafeRawPointer(mapped)
        count = size
        isMapped = true
    }

    /// Tells the kernel that the mapped pages wholly inside `range` are not needed now, so they stop
    /// counting as resident; a later read faults them in again from the file. No effect on a heap copy.
    func releasePages(_ range: Range<Int>) {
        guard isMapped else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (max(range.lowerBound, 0) + page - 1) / page * page
        let end = min(range.upperBound, count) / page * page
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, Int32(MADV_DONTNEED))
    }

    deinit {
        if isMapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }

    private static func errnoText() -> String {
        let code = errno
        if let text = strerror(code) { return String(cString: text) }
        return "errno \(code)"
    }
}
