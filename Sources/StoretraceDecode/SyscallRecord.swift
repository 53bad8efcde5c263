import Glibc
import CStoretraceABI
import StoretraceBytes

/// Byte offsets of `struct st_syscall_event` (storetrace_abi.h). The C header
/// asserts them with _Static_assert; `LayoutTests` checks that Swift's view of
/// the imported struct agrees, so a change on either side fails a build or a test.
public enum SyscallLayout {
    public static let headerSize = Int(ST_EVENT_HEADER_SIZE)
    public static let maxStrings = Int(ST_MAX_STRINGS)
    public static let stringCap = Int(ST_STR_CAP)
    public static let recordMax = headerSize + maxStrings * stringCap

    static let kind = 0
    static let size = 2
    static let nstr = 4
    static let truncated = 5
    static let faulted = 6
    static let null = 7
    static let pid = 8
    static let tid = 12
    static let uid = 16
    static let mntns = 20
    static let cgroupID = 24
    static let timestamp = 32
    static let latency = 40
    static let ret = 48
    static let args = 56
    static let detail = 104
    // detail.copy
    static let copyInIno = detail + 0
    static let copyInDev = detail + 8
    static let copyOutIno = detail + 16
    static let copyOutDev = detail + 24
    static let copyOffIn = detail + 32
    static let copyOffOut = detail + 40
    // detail.mount_attr
    static let attrSet = detail + 0
    static let attrClr = detail + 8
    static let attrPropagation = detail + 16
    static let attrUsernsFD = detail + 24
    static let comm = 152
    static let commSize = 16
    static let strLen = 168
}

/// Why a record could not be decoded. Records come from the kernel or from a
/// capture file; either may be short or corrupt, and neither may crash us.
public enum RecordError: Error, Equatable, Sendable {
    case short(have: Int, need: Int)
    case sizeMismatch(declared: Int, available: Int)
    case unknownKind(UInt16)
    case tooManyStrings(Int)
    case stringsOverflow(declared: Int, available: Int)
}

/// A syscall record viewed in place: accessors read the bytes on demand and
/// nothing is copied. The view is only valid while the memory it points at is
/// (inside a ring-buffer callback, or while a capture chunk is held).
public struct SyscallRecord {
    public let bytes: UnsafeRawBufferPointer
    public let kind: SyscallKind
    /// Start offset of each string within `bytes`.
    private let stringStarts: (Int, Int, Int, Int)

    /// Validates the header and the string table against the buffer; throws
    /// for anything that would make an accessor read out of bounds.
    public init(validating bytes: UnsafeRawBufferPointer) throws(RecordError) {
        guard bytes.count >= SyscallLayout.headerSize else {
            throw .short(have: bytes.count, need: SyscallLayout.headerSize)
        }
        let header = ByteReader(bytes, order: .host)
        let declared = Int(header.field(UInt16.self, at: SyscallLayout.size))
        // Perf buffers pad samples to 8 bytes, so more bytes than declared is fine.
        guard declared >= SyscallLayout.headerSize, declared <= bytes.count else {
            throw .sizeMismatch(declared: declared, available: bytes.count)
        }
        let rawKind = header.field(UInt16.self, at: SyscallLayout.kind)
        guard let kind = SyscallKind(rawValue: rawKind) else { throw .unknownKind(rawKind) }
        let count = Int(bytes[SyscallLayout.nstr])
        guard count <= SyscallLayout.maxStrings else { throw .tooManyStrings(count) }
        var starts = (0, 0, 0, 0)
        var offset = SyscallLayout.headerSize
        for index in 0..<SyscallLayout.maxStrings {
            let length = index < count
                ? Int(header.field(UInt16.self, at: SyscallLayout.strLen + 2 * index))
                : 0
            switch index {
            case 0: starts.0 = offset
            case 1: starts.1 = offset
            case 2: starts.2 = offset
            default: starts.3 = offset
            }
            offset += length
        }
        guard offset <= declared else { throw .stringsOverflow(declared: offset, available: declared) }
        self.bytes = UnsafeRawBufferPointer(rebasing: bytes[0..<declared])
        self.kind = kind
        self.stringStarts = starts
    }

    /// BPF writes records in the kernel's byte order; `init(validating:)`
    /// checked the header fits.
    @inline(__always)
    private func load<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
        ByteReader(bytes, order: .host).field(T.self, at: offset)
    }

    public var size: Int { bytes.count }

    /// The entry timestamp of a record not yet validated, for merging
    /// sources in time order; nil if the bytes are too short to hold one
    /// (validation then rejects the record).
    @inline(__always)
    public static func timestamp(of bytes: UnsafeRawBufferPointer) -> UInt64? {
        ByteReader(bytes, order: .host).peek(UInt64.self, at: SyscallLayout.timestamp)
    }
    public var pid: UInt32 { load(SyscallLayout.pid, as: UInt32.self) }
    public var tid: UInt32 { load(SyscallLayout.tid, as: UInt32.self) }
    public var uid: UInt32 { load(SyscallLayout.uid, as: UInt32.self) }
    public var mountNamespace: UInt32 { load(SyscallLayout.mntns, as: UInt32.self) }
    public var cgroupID: UInt64 { load(SyscallLayout.cgroupID, as: UInt64.self) }
    /// CLOCK_MONOTONIC nanoseconds at syscall entry.
    public var timestamp: UInt64 { load(SyscallLayout.timestamp, as: UInt64.self) }
    public var latency: UInt64 { load(SyscallLayout.latency, as: UInt64.self) }
    /// The raw return value: negative errno on failure.
    public var returnValue: Int64 { load(SyscallLayout.ret, as: Int64.self) }
    /// errno if the call failed, else nil.
    public var errno: Int32? {
        let ret = returnValue
        return ret < 0 && ret >= -4095 ? Int32(-ret) : nil
    }

    /// Argument register `index` (0...5) as the caller passed it.
    public func arg(_ index: Int) -> UInt64 {
        precondition(index >= 0 && index < 6)
        return load(SyscallLayout.args + 8 * index, as: UInt64.self)
    }
    /// Argument `index` as a C `int` (file descriptors, dfd).
    public func intArg(_ index: Int) -> Int32 { Int32(truncatingIfNeeded: arg(index)) }

    /// The comm, up to its NUL.
    public var comm: UnsafeRawBufferPointer {
        // memchr: the generic firstIndex(of:) over a slice was 3 % of rendering.
        let start = bytes.baseAddress! + SyscallLayout.comm
        let length = memchr(start, 0, SyscallLayout.commSize).map { $0 - UnsafeMutableRawPointer(mutating: start) }
            ?? SyscallLayout.commSize
        return UnsafeRawBufferPointer(start: start, count: length)
    }

    public var stringCount: Int { Int(bytes[SyscallLayout.nstr]) }

    /// String `index` as copied by BPF, or nil if the call passed NULL, the
    /// pointer could not be read, or the kind has no such string.
    public func string(_ index: Int) -> UnsafeRawBufferPointer? {
        guard index < stringCount, !isNull(index), !isFaulted(index) else { return nil }
        let start: Int
        switch index {
        case 0: start = stringStarts.0
        case 1: start = stringStarts.1
        case 2: start = stringStarts.2
        default: start = stringStarts.3
        }
        let length = Int(load(SyscallLayout.strLen + 2 * index, as: UInt16.self))
        return UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])
    }

    public func isTruncated(_ index: Int) -> Bool { bytes[SyscallLayout.truncated] & (1 << index) != 0 }
    public func isFaulted(_ index: Int) -> Bool { bytes[SyscallLayout.faulted] & (1 << index) != 0 }
    public func isNull(_ index: Int) -> Bool { bytes[SyscallLayout.null] & (1 << index) != 0 }
    /// True if any string of this record was cut short.
    public var anyTruncated: Bool { bytes[SyscallLayout.truncated] != 0 }

    // copy_file_range, splice, sendfile
    public var fileIn: FileRef {
        FileRef(device: load(SyscallLayout.copyInDev, as: UInt32.self), inode: load(SyscallLayout.copyInIno, as: UInt64.self))
    }
    public var fileOut: FileRef {
        FileRef(device: load(SyscallLayout.copyOutDev, as: UInt32.self), inode: load(SyscallLayout.copyOutIno, as: UInt64.self))
    }
    public var offsetInAtEntry: Int64 { load(SyscallLayout.copyOffIn, as: Int64.self) }
    public var offsetOutAtEntry: Int64 { load(SyscallLayout.copyOffOut, as: Int64.self) }

    // mount_setattr
    public var attrSet: UInt64 { load(SyscallLayout.attrSet, as: UInt64.self) }
    public var attrClear: UInt64 { load(SyscallLayout.attrClr, as: UInt64.self) }
    public var attrPropagation: UInt64 { load(SyscallLayout.attrPropagation, as: UInt64.self) }
}

/// An open file as BPF identified it: superblock device and inode.
public struct FileRef: Equatable, Sendable {
    /// Kernel-internal dev_t: major << 20 | minor.
    public var device: UInt32
    public var inode: UInt64
    public var major: UInt32 { device >> 20 }
    public var minor: UInt32 { device & 0xfffff }
    public init(device: UInt32, inode: UInt64) {
        self.device = device
        self.inode = inode
    }
}
