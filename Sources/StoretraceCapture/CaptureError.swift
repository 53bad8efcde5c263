import Glibc

/// Every error thrown by the capture writer and reader.
///
/// `description` is a single line; errors about file content name the byte
/// offset they refer to.
public enum CaptureError: Error, Equatable, Sendable, CustomStringConvertible {
    // MARK: Writer / file system
    /// The output file exists and overwrite was not requested (O_EXCL).
    case fileExists(path: String)
    /// open(2) or a similar call failed.
    case openFailed(path: String, errno: Int32)
    /// The file is not a regular file (captures must be seekable regular files).
    case notRegularFile(path: String)
    /// Another writer holds the file's lock (flock): another storetrace is
    /// recording into it.
    case lockedByAnotherWriter(path: String)
    /// A read/write/sync system call failed. `offset` is the file offset involved.
    case ioError(operation: String, path: String, offset: UInt64, errno: Int32)
    /// ENOSPC or EDQUOT while writing the chunk that starts at `offset`.
    /// Everything before `offset` is intact; the file was truncated back to `offset`
    /// (best effort) and the buffered records are kept, so `flush()` may be retried.
    case diskFull(path: String, offset: UInt64)
    /// Appending would make the file larger than `CaptureWriterOptions.maxFileSize`.
    /// The record was not appended; `close(trailer:)` still works.
    case sizeLimitReached(path: String, limit: UInt64, size: UInt64)
    case invalidArgument(String)
    /// `append` with a type id that was not registered with `registerType`.
    case typeNotRegistered(UInt16)
    case recordTooLarge(size: Int, max: Int)
    /// An earlier unrecoverable error (e.g. fdatasync failure) put the writer in a
    /// failed state; the original error is attached.
    indirect case writerFailed(CaptureError)
    /// The writer was closed.
    case closed

    // MARK: Reader (file header problems are fatal; chunk problems are not errors
    // but are reported through `CaptureReader.tail` / `corruptions`)
    case truncatedHeader(offset: UInt64, have: Int, need: Int)
    case badMagic(offset: UInt64, found: [UInt8])
    case unsupportedVersion(offset: UInt64, major: UInt16, minor: UInt16, supportedMajor: UInt16)
    case badHeader(offset: UInt64, reason: String)
    case headerChecksumMismatch(offset: UInt64, stored: UInt32, computed: UInt32)
    /// Invalid field description text in a schema.
    case badSchemaText(line: Int, reason: String)

    /// Whether `description` starts with the file's path; where it does not,
    /// the caller names the file: one line, the path once.
    public var namesPath: Bool {
        switch self {
        case .fileExists, .openFailed, .notRegularFile, .lockedByAnotherWriter, .ioError, .diskFull, .sizeLimitReached: true
        default: false
        }
    }

    /// "PATH: what went wrong", whichever case this is.
    public func description(path: String) -> String {
        namesPath ? description : "\(path): \(description)"
    }

    public var description: String {
        switch self {
        case .fileExists(let path):
            return "\(path): file exists (refusing to overwrite)"
        case .openFailed(let path, let e):
            return "\(path): cannot open: \(errnoString(e))"
        case .notRegularFile(let path):
            return "\(path): not a regular file; a capture must be one (a FIFO, a device or a directory is refused)"
        case .lockedByAnotherWriter(let path):
            return "\(path): another storetrace is recording into this file (it holds the file's lock); choose another path"
        case .ioError(let op, let path, let offset, let e):
            return "\(path): \(op) failed at offset \(offset): \(errnoString(e))"
        case .diskFull(let path, let offset):
            return "\(path): disk full while writing chunk at offset \(offset); data before that offset is intact"
        case .sizeLimitReached(let path, let limit, let size):
            return "\(path): size limit of \(limit) bytes reached (file size \(size))"
        case .invalidArgument(let s):
            return "invalid argument: \(s)"
        case .typeNotRegistered(let t):
            return "record type \(t) was not registered"
        case .recordTooLarge(let size, let max):
            return "record payload of \(size) bytes exceeds the maximum of \(max) bytes"
        case .writerFailed(let e):
            return "capture writer is in a failed state after: \(e.description)"
        case .closed:
            return "capture writer is closed"
        case .truncatedHeader(let offset, let have, let need):
            return "offset \(offset): truncated file header: \(have) of \(need) bytes present"
        case .badMagic(let offset, let found):
            let hex = found.map { b in
                let s = String(b, radix: 16)
                return s.count == 1 ? "0" + s : s
            }.joined(separator: " ")
            return "offset \(offset): not a storetrace capture (bad magic: \(hex))"
        case .unsupportedVersion(let offset, let major, let minor, let supported):
            return "offset \(offset): unsupported capture format version \(major).\(minor) (this reader reads major versions 1 to \(supported); a newer storetrace is needed)"
        case .badHeader(let offset, let reason):
            return "offset \(offset): bad file header: \(reason)"
        case .headerChecksumMismatch(let offset, let stored, let computed):
            return "offset \(offset): file header checksum mismatch (stored \(hex32(stored)), computed \(hex32(computed)))"
        case .badSchemaText(let line, let reason):
            return "schema field description line \(line): \(reason)"
        }
    }

    /// Maps an errno from a write/sync call to an error; ENOSPC and EDQUOT become `.diskFull`.
    static func fromWriteErrno(_ e: Int32, operation: String, path: String, offset: UInt64) -> CaptureError {
        if e == ENOSPC || e == EDQUOT { return .diskFull(path: path, offset: offset) }
        return .ioError(operation: operation, path: path, offset: offset, errno: e)
    }
}

func errnoString(_ e: Int32) -> String {
    if let s = strerror(e) { return String(cString: s) + " (errno \(e))" }
    return "errno \(e)"
}

func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}
