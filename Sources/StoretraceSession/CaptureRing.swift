import Glibc
import StoretraceCapture
import StoretraceKernel
import StoretraceRender

/// `record --rotate SIZE --keep N`: the flight recorder's ring of capture
/// files in one directory. Each file is a complete capture (its own header,
/// schemas, node snapshot, ftrace formats, device table and threads), named
/// `storetrace-HOST-YYYYMMDDTHHMMSSZ-NNNNNNNNN.stcap` (UTC second, then its
/// nanoseconds), so names sort in time order; once a new file is created
/// the oldest of the host's files beyond `keep` are removed.
public struct CaptureRing: Sendable {
    public var directory: String
    /// A file is closed, and the next one started, once it reaches this size.
    public var fileSize: UInt64
    /// Files kept, the one being written included.
    public var keep: Int
    public var host: String

    public init(directory: String, fileSize: UInt64, keep: Int, host: String) {
        self.directory = directory
        self.fileSize = fileSize
        self.keep = keep
        self.host = host
    }

    var prefix: String { "storetrace-\(host)-" }

    /// The name of a file started at `epochNanoseconds`.
    public func path(startedAt epochNanoseconds: Int64) -> String {
        let nanos = String(epochNanoseconds % 1_000_000_000)
        let padded = String(repeating: "0", count: 9 - nanos.count) + nanos
        return directory + "/" + prefix + TimeText.compactUTC(epochNanoseconds: epochNanoseconds) + "-" + padded + ".stcap"
    }

    /// This host's ring files in the directory, oldest first.
    public func files() -> [String] {
        directoryEntries(of: directory).filter { $0.hasPrefix(prefix) && $0.hasSuffix(".stcap") }.sorted()
            .map { directory + "/" + $0 }
    }

    /// Removes the oldest files beyond `keep`; returns the paths that could
    /// not be removed, with errno.
    @discardableResult
    public func prune() -> [(path: String, errno: Int32)] {
        let all = files()
        guard all.count > keep else { return [] }
        var failed: [(String, Int32)] = []
        for path in all.prefix(all.count - keep) where unlink(path) != 0 && errno != ENOENT {
            failed.append((path, errno))
        }
        return failed
    }
}

/// The captures `replay` and `info` read as one: files as given, and the
/// `.stcap` files of a directory (a ring), ordered by each file's start.
public enum CaptureSet {
    public static func paths(_ arguments: [String]) throws(SessionError) -> [String] {
        var files: [String] = []
        for argument in arguments {
            var st = stat()
            if stat(argument, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
                let base = argument.hasSuffix("/") ? String(argument.dropLast()) : argument
                let found = directoryEntries(of: argument).filter { $0.hasSuffix(".stcap") }.sorted().map { base + "/" + $0 }
                if found.isEmpty { throw .readCapture(path: argument, reason: "a directory without .stcap files") }
                files += found
            } else {
                files.append(argument)
            }
        }
        guard files.count > 1 else { return files }
        var started: [(path: String, start: UInt64)] = []
        for path in files {
            do {
                started.append((path, try CaptureReader(path: path).header.creationRealtimeNs))
            } catch {
                throw .openCapture(error, path: path)
            }
        }
        // Stable: files started in the same nanosecond keep their order.
        return started.enumerated().sorted { ($0.element.start, $0.offset) < ($1.element.start, $1.offset) }.map(\.element.path)
    }
}
