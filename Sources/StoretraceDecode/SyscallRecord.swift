import Glibc
import CStoretraceABI
import StoretraceBytes

/// Byte offsets of `struct st_syscall_event` (storetrace_abi.h). The C header
/// asserts them with _Static_assert; `LayoutTests` checks that Swift's view of
/// the imported struct agrees, so a change on either side fails a build or a test.
/// Inlinable, with the record's accessors: reading a field from another module
/// was a call each (a tenth of rendering a copy, BENCHMARKS.md).
public enum SyscallLayout {
    public static let headerSize = Int(ST_EVENT_HEADER_SIZE)
    public static let maxStrings = Int(ST_MAX_STRINGS)
    public static let stringCap = Int(ST_STR_CAP)
    public static let recordMax = headerSize + maxStrings * stringCap

    @inlinable static var kind: Int { 0 }
    @inlinable static var size: Int { 2 }
    @inlinable static var nstr: Int { 4 }
    @inlinable static var truncated: Int { 5 }
    @inlinable static var faulted: Int { 6 }
    @inlinable static var null: Int { 7 }
    @inlinable static var pid: Int { 8 }
    @inlinable static var tid: Int { 12 }
    @inlinable static var uid: Int { 16 }
    @inlinable static var mntns: Int { 20 }
    @inlinable static var cgroupID: Int { 24 }
    @inlinable static var timestamp: Int { 32 }
    @inlinable static var latency: Int { 40 }
    @inlinable static var ret: Int { 48 }
    @inlinable static var args: Int { 56 }
    @inlinable static var detail: Int { 104 }
    // detail.copy
    @inlinable static var copyInIno: Int { detail + 0 }
    @inlinable static var copyInDev: Int { detail + 8 }
    @inlinable static var copyOutIno: Int { detail + 16 }
    @inlinable static var copyOutDev: Int { detail + 24 }
    @inlinable static var copyOffIn: Int { detail + 32 }
    @inlinable static var copyOffOut: Int { detail + 40 }
    // detail.mount_attr
    @inlinable static var attrSet: Int { detail + 0 }
    @inlinable static var attrClr: Int { detail + 8 }
    @inlinable static var attrPropagation: Int { detail + 16 }
    @inlinable static var attrUsernsFD: Int { detail + 24 }
    @inlinable static var comm: Int { 152 }
    @inlinable static var commSize: Int { 16 }
    @inlinable static var strLen: Int { 168 }
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
    @usableFromInline let stringStarts: (Int, Int, Int, Int)

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
    @inlinable @inline(__always)
    func load<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
        ByteReader(bytes, order: .host).field(T.self, at: offset)
    }

    @inlinable public var size: Int { bytes.count }

    /// The entry timestamp of a record not yet validated, for merging
    /// sources in time order; nil if the bytes are too short to hold one
    /// (validation then rejects the record).
    @inline(__always)
    public static func timestamp(of bytes: UnsafeRawBufferPointer) -> UInt64? {
        ByteReader(bytes, order: .host).peek(UInt64.self, at: SyscallLayout.timestamp)
    }
    @inlinable public var pid: UInt32 { load(SyscallLayout.pid, as: UInt32.self) }
    @inlinable public var tid: UInt32 { load(SyscallLayout.tid, as: UInt32.self) }
    @inlinable public var uid: UInt32 { load(SyscallLayout.uid, as: UInt32.self) }
    @inlinable public var mountNamespace: UInt32 { load(SyscallLayout.mntns, as: UInt32.self) }
    @inlinable public var cgroupID: UInt64 { load(SyscallLayout.cgroupID, as: UInt64.self) }
    /// CLOCK_MONOTONIC nanoseconds at syscall entry.
    @inlinable public var timestamp: UInt64 { load(SyscallLayout.timestamp, as: UInt64.self) }
    @inlinable public var latency: UInt64 { load(SyscallLayout.latency, as: UInt64.self) }
    /// The raw return value: negative errno on failure.
    @inlinable public var returnValue: Int64 { load(SyscallLayout.ret, as: Int64.self) }
    /// errno if the call failed, else nil.
    @inlinable public var errno: Int32? {
        let ret = returnValue
        return ret < 0 && ret >= -4095 ? Int32(-ret) : nil
    }

    /// Argument register `index` (0...5) as the caller passed it. Always
    /// inlined, like `string`: renderers read them in loops over a call's
    /// arguments, where the optimizer left them calls.
    @inlinable @inline(__always) public func arg(_ index: Int) -> UInt64 {
        precondition(index >= 0 && index < 6)
        return load(SyscallLayout.args + 8 * index, as: UInt64.self)
    }
    /// Argument `index` as a C `int` (file descriptors, dfd).
    @inlinable @inline(__always) public func intArg(_ index: Int) -> Int32 { Int32(truncatingIfNeeded: arg(index)) }

    /// The comm, up to its NUL.
    @inlinable public var comm: UnsafeRawBufferPointer {
        // memchr: the generic firstIndex(of:) over a slice was 3 % of rendering.
        let start = bytes.baseAddress! + SyscallLayout.comm
        let length = memchr(start, 0, SyscallLayout.commSize).map { $0 - UnsafeMutableRawPointer(mutating: start) }
            ?? SyscallLayout.commSize
        return UnsafeRawBufferPointer(start: start, count: length)
    }

    @inlinable public var stringCount: Int { Int(bytes[SyscallLayout.nstr]) }

    /// String `index` as copied by BPF, or nil if the call passed NULL, the
    /// pointer could not be read, or the kind has no such string.
    @inlinable @inline(__always) public func string(_ index: Int) -> UnsafeRawBufferPointer? {
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

    /// What a call's own fields (its arguments as renderers show them) are
    /// made of, besides its kind and `stringFlags`: the record from the
    /// argument registers on (registers, detail, comm, string lengths,
    /// strings). Renderers remember the fields rendered from them
    /// (`RenderMemo`): a storm repeats its calls' arguments.
    @inlinable public var argumentBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[SyscallLayout.args...])
    }

    /// The string count and the truncated, faulted and NULL bits, one byte each.
    @inlinable public var stringFlags: UInt32 { load(SyscallLayout.nstr, as: UInt32.self) }

    @inlinable @inline(__always) public func isTruncated(_ index: Int) -> Bool { bytes[SyscallLayout.truncated] & (1 << index) != 0 }
    @inlinable @inline(__always) public func isFaulted(_ index: Int) -> Bool { bytes[SyscallLayout.faulted] & (1 << index) != 0 }
    @inlinable @inline(__always) public func isNull(_ index: Int) -> Bool { bytes[SyscallLayout.null] & (1 << index) != 0 }
    /// True if any string of this record was cut short.
    @inlinable public var anyTruncated: Bool { bytes[SyscallLayout.truncated] != 0 }

    // copy_file_range, splice, sendfile
    @inlinable public var fileIn: FileRef {
        FileRef(device: load(SyscallLayout.copyInDev, as: UInt32.self), inode: load(SyscallLayout.copyInIno, as: UInt64.self))
    }
    @inlinable public var fileOut: FileRef {
        FileRef(device: load(SyscallLayout.copyOutDev, as: UInt32.self), inode: load(SyscallLayout.copyOutIno, as: UInt64.self))
    }
    @inlinable public var offsetInAtEntry: Int64 { load(SyscallLayout.copyOffIn, as: Int64.self) }
    @inlinable public var offsetOutAtEntry: Int64 { load(SyscallLayout.copyOffOut, as: Int64.self) }

    // mount_setattr
    @inlinable public var attrSet: UInt64 { load(SyscallLayout.attrSet, as: UInt64.self) }
    @inlinable public var attrClear: UInt64 { load(SyscallLayout.attrClr, as: UInt64.self) }
    @inlinable public var attrPropagation: UInt64 { load(SyscallLayout.attrPropagation, as: UInt64.self) }
}

/// An open file as BPF identified it: superblock device and inode.
public struct FileRef: Equatable, Sendable {
    /// Kernel-internal dev_t: major << 20 | minor.
    public var device: UInt32
    public var inode: UInt64
    @inlinable public var major: UInt32 { device >> 20 }
    @inlinable public var minor: UInt32 { device & 0xfffff }
    @inlinable public init(device: UInt32, inode: UInt64) {
        self.device = device
        self.inode = inode
    }
}
