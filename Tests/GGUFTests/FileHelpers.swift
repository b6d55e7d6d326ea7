#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct FileWriteError: Error {}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    guard let handle = fopen(path, "wb") else { throw FileWriteError() }
    defer { fclose(handle) }
    let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) }
    guard written == bytes.count else { throw FileWriteError() }
}

func removeFile(_ path: String) {
    unlink(path)
}
