import StoretraceDecode

/// Builds syscall records the way bpf/storetrace.bpf.c lays them out
/// (struct st_syscall_event in storetrace_abi.h), for tests that need many
/// variations. `SyscallRecordTests.mountFixture` spells one out byte by byte.
/// Shared by the decoder and renderer tests.
public struct RecordBuilder {
    public var kind: UInt16 = 1
    public var pid: UInt32 = 4120
    public var tid: UInt32 = 4121
    public var uid: UInt32 = 0
    public var mntns: UInt32 = 4026531841
    public var cgroupID: UInt64 = 1
    public var timestamp: UInt64 = 1_000_000_000
    public var latency: UInt64 = 12_345
    public var ret: Int64 = 0
    public var args: [UInt64] = [0, 0, 0, 0, 0, 0]
    public var detail: [UInt64] = [0, 0, 0, 0, 0, 0]
    public var comm = "mount"
    /// Raw comm bytes (up to 15), for bytes a String cannot hold; overrides `comm`.
    public var commBytes: [UInt8]?
    /// nil: a NULL pointer.
    public var strings: [String?] = []
    /// Raw string bytes by index, for bytes a String cannot hold (invalid UTF-8); override `strings`.
    public var stringBytes: [Int: [UInt8]] = [:]
    public var truncated: UInt8 = 0
    public var faulted: UInt8 = 0

    public init() {}

    /// A call of `kind` by process `pid` (its only thread), entered at
    /// `timestamp`, that returned `ret`: what most tests vary.
    public init(_ kind: SyscallKind, at timestamp: UInt64, pid: UInt32 = 4120, strings: [String?] = [], ret: Int64 = 0) {
        self.kind = kind.rawValue
        self.timestamp = timestamp
        self.pid = pid
        self.tid = pid
        self.strings = strings
        self.ret = ret
    }

    public var bytes: [UInt8] {
        var out = [UInt8]()
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        let payload = strings.enumerated().map { stringBytes[$0.offset] ?? Array(($0.element ?? "").utf8) }
        let size = 176 + payload.reduce(0) { $0 + $1.count }
        var null: UInt8 = 0
        for (index, string) in strings.enumerated() where string == nil { null |= 1 << index }
        put(kind); put(UInt16(size)); out.append(UInt8(strings.count)); out.append(truncated); out.append(faulted); out.append(null)
        put(pid); put(tid); put(uid); put(mntns)
        put(cgroupID); put(timestamp); put(latency); put(ret)
        for arg in args { put(arg) }
        for word in detail { put(word) }
        var commBytes = Array((self.commBytes ?? Array(comm.utf8)).prefix(15))
        commBytes += [UInt8](repeating: 0, count: 16 - commBytes.count)
        out += commBytes
        for index in 0..<4 { put(UInt16(index < payload.count ? payload[index].count : 0)) }
        for string in payload { out += string }
        precondition(out.count == size)
        return out
    }
}

extension Array where Element == UInt8 {
    public func withRecord<R>(_ body: (SyscallRecord) throws -> R) throws -> R {
        try withUnsafeBytes { try body(try SyscallRecord(validating: $0)) }
    }
}
