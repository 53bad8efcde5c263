import Glibc
import StoretraceCapture
import StoretraceDecode
import StoretraceKernel
import StoretraceRecords
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

/// The node and boot a capture was recorded on, from its start snapshot:
/// the host name (`uname -n` where storetrace ran) and the boot id
/// (/proc/sys/kernel/random/boot_id).
public struct CaptureNode: Equatable, Sendable {
    public var hostname: String?
    public var bootID: String?

    public init(hostname: String?, bootID: String?) {
        self.hostname = hostname
        self.bootID = bootID
    }

    /// The start snapshot of the capture at `path`: read from its first
    /// chunks (the writer puts it before any event), at most 16 of them.
    public static func of(path: String) throws(SessionError) -> CaptureNode {
        let reader: CaptureReader
        do {
            reader = try CaptureReader(path: path)
        } catch {
            throw .openCapture(error, path: path)
        }
        var sawData = false
        var chunks = 0
        do {
            while reader.hostSnapshots.isEmpty, !sawData, chunks < 16,
                  try reader.readChunk(accept: CaptureRecordTypes.isReadable, { _ in sawData = true }) {
                chunks += 1
            }
        } catch {
            throw .readCapture(path: path, reason: "\(error)")
        }
        guard let bytes = reader.hostSnapshots.first, let snapshot = try? NodeSnapshot(json: bytes) else {
            return CaptureNode(hostname: nil, bootID: nil)
        }
        return CaptureNode(hostname: snapshot.hostname, bootID: snapshot.bootID)
    }
}

/// The files of one node and boot, read in sequence as one stream (a ring,
/// or captures recorded one after the other), and the name its events are
/// shown with when a replay merges several.
public struct CaptureStream: Sendable {
    public var node: CaptureNode
    /// The host name; with the boot id's first 8 characters after a `/`
    /// when the replay holds two boots of that host; `unknown-host` for
    /// captures without a snapshot.
    public var label: String
    /// In the order of each file's start.
    public var paths: [String]

    public init(node: CaptureNode, label: String, paths: [String]) {
        self.node = node
        self.label = label
        self.paths = paths
    }
}

extension CaptureSet {
    /// `files` (as `paths` returns them: in the order of their starts)
    /// grouped by node: files whose start snapshots name the same host and
    /// the same boot are one stream, read in sequence; any other difference
    /// (another host name, another boot of the same host, whose monotonic
    /// clock started again) makes another stream, merged by wall-clock
    /// time. Captures without a start snapshot are one stream together
    /// (nothing tells them apart). Streams come in the order of their first
    /// file.
    public static func streams(files: [String]) throws(SessionError) -> [CaptureStream] {
        var streams: [CaptureStream] = []
        for path in files {
            let node = try files.count == 1 ? CaptureNode(hostname: nil, bootID: nil) : CaptureNode.of(path: path)
            if let index = streams.firstIndex(where: { $0.node == node }) {
                streams[index].paths.append(path)
            } else {
                streams.append(CaptureStream(node: node, label: node.hostname ?? "unknown-host", paths: [path]))
            }
        }
        // Two boots of one host: the boot tells them apart.
        let shared = streams.map { stream in streams.filter { $0.label == stream.label }.count > 1 }
        for index in streams.indices where shared[index] {
            if let boot = streams[index].node.bootID { streams[index].label += "/" + String(boot.prefix(8)) }
        }
        var seen: [String: Int] = [:]
        for index in streams.indices {
            let label = streams[index].label
            seen[label, default: 0] += 1
            if seen[label]! > 1 { streams[index].label += "#\(seen[label]!)" }
        }
        return streams
    }
}
