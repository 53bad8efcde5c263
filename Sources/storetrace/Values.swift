import ArgumentParser
import StoretraceCapture
import StoretraceDecode
import StoretraceRender
import StoretraceSession

/// Typed option values. Parsing is StoretraceDecode's (DurationText,
/// ByteSizeText, RFC3339); these wrap it for ArgumentParser. Options pass
/// `transform: X.parse` so that a bad value is one line that says why
/// ("a unit is required: ns, us (or µs), ms, s, m, h"); the failable
/// `init?(argument:)` is the same parse without the reason.

/// A value whose parse says why it failed; `init?(argument:)` is that parse.
protocol CheckedArgument: ExpressibleByArgument, CustomStringConvertible {
    /// As the user wrote it, for messages.
    var text: String { get }
    static func parse(_ text: String) throws -> Self
}

extension CheckedArgument {
    init?(argument: String) {
        guard let value = try? Self.parse(argument) else { return nil }
        self = value
    }

    var description: String { text }
    var defaultValueDescription: String { text }
}

/// A duration with a unit: "500us", "10ms", "1.5s", "5m".
struct DurationValue: CheckedArgument, Sendable {
    let text: String
    let nanoseconds: UInt64

    static func parse(_ text: String) throws -> DurationValue {
        do {
            return DurationValue(text: text, nanoseconds: try DurationText.nanoseconds(text))
        } catch {
            throw ValidationError(error.description)
        }
    }

    init(text: String, nanoseconds: UInt64) {
        self.text = text
        self.nanoseconds = nanoseconds
    }
}

/// A byte size: "64M", "2G", "512KiB"; bare bytes where `bareBytes`.
struct ByteSizeValue: CheckedArgument, Sendable {
    let text: String
    let bytes: UInt64

    /// For the options that document bare numbers as bytes (--buffer-size).
    static func parseAllowingBytes(_ text: String) throws -> ByteSizeValue { try parse(text, bareBytes: true) }

    /// K, M or G required (--max-size).
    static func parse(_ text: String) throws -> ByteSizeValue { try parse(text, bareBytes: false) }

    static func parse(_ text: String, bareBytes: Bool) throws -> ByteSizeValue {
        do {
            return ByteSizeValue(text: text, bytes: try ByteSizeText.bytes(text, bareBytes: bareBytes))
        } catch {
            throw ValidationError(error.description)
        }
    }

    init(text: String, bytes: UInt64) {
        self.text = text
        self.bytes = bytes
    }
}

/// `record --compress`: none, zstd or zstd:LEVEL.
struct CompressionValue: CheckedArgument, Sendable {
    let text: String
    let compression: CaptureCompression

    static func parse(_ text: String) throws -> CompressionValue {
        do {
            return CompressionValue(text: text, compression: try CaptureCompression.parse(text))
        } catch {
            throw ValidationError(error.description)
        }
    }

    init(text: String, compression: CaptureCompression) {
        self.text = text
        self.compression = compression
    }
}

/// `replay --since/--until`: RFC 3339, or "+DURATION" from the capture's start.
struct TimeBoundValue: CheckedArgument, Sendable {
    let text: String
    let bound: TimeBound

    static func parse(_ text: String) throws -> TimeBoundValue {
        if text.hasPrefix("+") {
            do {
                return TimeBoundValue(text: text, bound: .offset(nanoseconds: try DurationText.nanoseconds(String(text.dropFirst()))))
            } catch {
                throw ValidationError("an offset from the capture's start: \(error.description)")
            }
        }
        guard let epoch = StoretraceDecode.RFC3339.parse(text) else {
            throw ValidationError("write an RFC 3339 time from 1970 to 2262 (2026-11-23T14:07:31Z) or an offset (+30s)")
        }
        return TimeBoundValue(text: text, bound: .wall(epochNanoseconds: epoch))
    }

    init(text: String, bound: TimeBound) {
        self.text = text
        self.bound = bound
    }
}

/// `--kubelet-root /home/t4/kubernetes/lib/kubelet`: kubelet's `--root-dir`.
/// An absolute path; trailing slashes are dropped.
struct KubeletRootValue: CheckedArgument, Sendable {
    let text: String
    let path: String

    static func parse(_ text: String) throws -> KubeletRootValue {
        var path = text
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        guard path.hasPrefix("/"), path != "/" else {
            throw ValidationError("--kubelet-root takes kubelet's root directory, an absolute path such as /var/lib/kubelet")
        }
        guard !path.utf8.contains(0) else { throw ValidationError("--kubelet-root: a path without NUL bytes") }
        return KubeletRootValue(text: text, path: path)
    }
}

/// `top --snapshot-size`: COLUMNSxROWS, from the smallest screen `top` draws to 1000x1000.
struct ScreenSizeValue: CheckedArgument, Sendable {
    let text: String
    let columns: Int
    let rows: Int

    init(columns: Int, rows: Int) {
        text = "\(columns)x\(rows)"
        self.columns = columns
        self.rows = rows
    }

    static func parse(_ text: String) throws -> ScreenSizeValue {
        let parts = text.split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let columns = Int(parts[0]), let rows = Int(parts[1]),
              (DashboardView.minimumWidth...1000).contains(columns), (DashboardView.minimumHeight...1000).contains(rows) else {
            throw ValidationError("write COLUMNSxROWS, from \(DashboardView.minimumWidth)x\(DashboardView.minimumHeight) to 1000x1000, e.g. 200x50")
        }
        return ScreenSizeValue(columns: columns, rows: rows)
    }
}

/// `--pod`: a pod UID, a UUID (dashes or the systemd driver's underscores)
/// or a static pod's 32 hex digits; kept with dashes, as events show it.
struct PodUIDValue: CheckedArgument, Sendable {
    let text: String
    let uid: [UInt8]

    static func parse(_ text: String) throws -> PodUIDValue {
        let lowered = Array(text.lowercased().utf8)
        let separator = lowered.contains(UInt8(ascii: "_")) ? UInt8(ascii: "_") : UInt8(ascii: "-")
        guard let uid = lowered.withUnsafeBytes({ PodCgroup.podUID($0, separator: separator) }) else {
            throw ValidationError("a pod UID is a UUID (8-4-4-4-12 hex digits, e.g. 7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b) or 32 hex digits")
        }
        return PodUIDValue(text: text, uid: uid)
    }
}

/// `--container`: a container id or a prefix of it (hex digits).
struct ContainerIDValue: CheckedArgument, Sendable {
    let text: String
    let prefix: [UInt8]

    static func parse(_ text: String) throws -> ContainerIDValue {
        var id = Substring(text.lowercased())
        for runtime in ["cri-containerd-", "containerd://", "cri-o://", "crio-", "docker://", "docker-"] where id.hasPrefix(runtime) {
            id = id.dropFirst(runtime.count)
        }
        guard !id.isEmpty, id.utf8.count <= 64, id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw ValidationError("a container id is up to 64 hex digits (a prefix is enough, e.g. 0123456789ab)")
        }
        return ContainerIDValue(text: text, prefix: Array(id.utf8))
    }
}

/// `--path`: an absolute path; a trailing slash is dropped.
struct PathPrefixValue: CheckedArgument, Sendable {
    let text: String
    let prefix: [UInt8]

    static func parse(_ text: String) throws -> PathPrefixValue {
        guard text.hasPrefix("/") else { throw ValidationError("a path prefix is absolute (starts with /), e.g. /var/lib/kubelet") }
        var bytes = Array(text.utf8)
        while bytes.count > 1 && bytes.last == UInt8(ascii: "/") { bytes.removeLast() }
        return PathPrefixValue(text: text, prefix: bytes)
    }
}

/// `--device`: a block device's name or MAJ:MIN (`DeviceSelector`).
struct DeviceValue: CheckedArgument, Sendable {
    let text: String
    let selector: DeviceSelector

    static func parse(_ text: String) throws -> DeviceValue {
        switch DeviceSelector.parse(text) {
        case .success(let selector): return DeviceValue(text: text, selector: selector)
        case .failure(let error): throw ValidationError(error.why)
        }
    }
}
