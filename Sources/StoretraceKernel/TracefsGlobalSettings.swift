import Glibc
import SystemPackage

/// The top-level tracefs settings other tools rely on, captured byte for
/// byte, so a test (or a cautious operator) can check that a storetrace run
/// left them exactly as it found them.
public struct TracefsGlobalSettings: Equatable, Sendable, CustomStringConvertible {
    /// The top-level files captured. Unreadable ones (set_ftrace_filter is
    /// EPERM where the function tracer is refused) are captured as their errno.
    public static let files = [
        "current_tracer", "trace_clock", "tracing_on", "buffer_size_kb", "buffer_percent",
        "set_ftrace_filter", "set_ftrace_notrace", "set_event", "set_event_pid", "set_ftrace_pid",
        "trace_options", "tracing_cpumask",
    ]

    public enum Content: Equatable, Sendable {
        case bytes([UInt8])
        case unreadable(Int32)
    }

    /// By file name, for every name in `files`.
    public var contents: [String: Content]
    /// Names under instances/, sorted.
    public var instances: [String]

    public static func capture(tracefs: TracefsMount) -> TracefsGlobalSettings {
        var contents: [String: Content] = [:]
        for name in files {
            switch TracefsFiles.read(tracefs.path + "/" + name) {
            case .success(let bytes): contents[name] = .bytes(bytes)
            case .failure(let failure): contents[name] = .unreadable(failure.rawValue)
            }
        }
        return TracefsGlobalSettings(contents: contents, instances: TracefsFiles.list(tracefs.path + "/instances").sorted())
    }

    /// One line per setting that differs from `other`, empty when identical.
    public func differences(from other: TracefsGlobalSettings) -> [String] {
        var lines: [String] = []
        for name in Self.files where contents[name] != other.contents[name] {
            lines.append("\(name): \(Self.show(other.contents[name])) -> \(Self.show(contents[name]))")
        }
        if instances != other.instances {
            lines.append("instances: \(other.instances) -> \(instances)")
        }
        return lines
    }

    public var description: String {
        (Self.files.map { "\($0): \(Self.show(contents[$0]))" } + ["instances: \(instances)"]).joined(separator: "\n")
    }

    private static func show(_ content: Content?) -> String {
        switch content {
        case .bytes(let bytes)?: String(reflecting: String(decoding: bytes, as: UTF8.self))
        case .unreadable(let value)?: "<unreadable: \(Errno(rawValue: value).symbolicDescription)>"
        case nil: "<not captured>"
        }
    }
}
