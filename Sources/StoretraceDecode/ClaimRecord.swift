import CStoretraceABI
import StoretraceBytes

/// Byte offsets of `struct st_claim_event` (storetrace_abi.h, which asserts
/// them with _Static_assert); `ClaimRecordTests` holds Swift's view of the
/// imported struct to them.
public enum ClaimLayout {
    public static let size = Int(ST_CLAIM_EVENT_SIZE)
    static let kind = 0
    static let recordSize = 2
    static let dev = 4
    static let pid = 8
    static let tid = 12
    static let mntns = 16
    static let uid = 20
    static let timestamp = 24
    static let holder = 32
    static let ret = 40
    static let comm = 48
    static let commSize = 16
}

/// Why a claim record could not be decoded (from the kernel or a capture).
public enum ClaimRecordError: Error, Equatable, Sendable, CustomStringConvertible {
    case short(have: Int, need: Int)
    case sizeMismatch(declared: Int)
    case unknownKind(UInt16)

    public var description: String {
        switch self {
        case .short(let have, let need): "claim: \(have) bytes, need \(need)"
        case .sizeMismatch(let declared): "claim: declared size \(declared), expected \(ClaimLayout.size)"
        case .unknownKind(let kind): "claim: unknown kind \(kind)"
        }
    }
}

/// An exclusive claim of a block device (bd_prepare_to_claim returned),
/// viewed in place like `SyscallRecord`: valid while its bytes are. The
/// record is the kernel's struct in the recording host's byte order.
public struct ClaimRecord {
    public let bytes: UnsafeRawBufferPointer

    public init(validating bytes: UnsafeRawBufferPointer) throws(ClaimRecordError) {
        let reader = ByteReader(bytes, order: .host)
        guard bytes.count >= ClaimLayout.size, let kind = reader.peek(UInt16.self, at: ClaimLayout.kind),
              let declared = reader.peek(UInt16.self, at: ClaimLayout.recordSize) else {
            throw .short(have: bytes.count, need: ClaimLayout.size)
        }
        // Exactly the struct: a larger one is a layout this reader does not know.
        guard Int(declared) == ClaimLayout.size else { throw .sizeMismatch(declared: Int(declared)) }
        guard kind >= 1 && kind <= UInt16(ST_CLAIM_KIND_MAX.rawValue) else { throw .unknownKind(kind) }
        self.bytes = UnsafeRawBufferPointer(rebasing: bytes[..<ClaimLayout.size])
    }

    /// The stamp of a record, for the source to sort by; nil if too short.
    public static func timestamp(of bytes: UnsafeRawBufferPointer) -> UInt64? {
        ByteReader(bytes, order: .host).peek(UInt64.self, at: ClaimLayout.timestamp)
    }

    @inline(__always)
    private func field<T: FixedWidthInteger>(_ type: T.Type, _ offset: Int) -> T {
        ByteReader(bytes, order: .host).field(T.self, at: offset) // validated: always in bounds
    }

    /// The kernel's dev_t (major << 20 | minor).
    public var kernelDevice: UInt32 { field(UInt32.self, ClaimLayout.dev) }
    public var major: UInt32 { kernelDevice >> 20 }
    public var minor: UInt32 { kernelDevice & 0xfffff }
    public var pid: UInt32 { field(UInt32.self, ClaimLayout.pid) }
    public var tid: UInt32 { field(UInt32.self, ClaimLayout.tid) }
    public var mountNamespace: UInt32 { field(UInt32.self, ClaimLayout.mntns) }
    public var uid: UInt32 { field(UInt32.self, ClaimLayout.uid) }
    /// CLOCK_MONOTONIC nanoseconds when the claim returned.
    public var timestamp: UInt64 { field(UInt64.self, ClaimLayout.timestamp) }
    /// The holder cookie the claimer passed (a kernel address).
    public var holder: UInt64 { field(UInt64.self, ClaimLayout.holder) }
    /// 0, or -errno.
    public var returnValue: Int64 { field(Int64.self, ClaimLayout.ret) }
    /// The errno of a refused claim (16, EBUSY: someone else has it), or nil.
    public var errno: Int32? { returnValue < 0 && returnValue >= -4095 ? Int32(-returnValue) : nil }
    /// The claimer's comm, up to its NUL.
    public var comm: UnsafeRawBufferPointer {
        let field = UnsafeRawBufferPointer(rebasing: bytes[ClaimLayout.comm..<(ClaimLayout.comm + ClaimLayout.commSize)])
        return UnsafeRawBufferPointer(rebasing: field[..<(field.firstIndex(of: 0) ?? field.count)])
    }
}
