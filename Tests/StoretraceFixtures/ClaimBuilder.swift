import StoretraceDecode

/// Builds struct st_claim_event records (little-endian, as on x86_64) for
/// the tests of renderers and analyzers; ClaimRecordTests spells the bytes out.
public struct ClaimBuilder {
    public var major: UInt32 = 7
    public var minor: UInt32 = 0
    public var pid: UInt32 = 812
    public var tid: UInt32 = 812
    public var mntns: UInt32 = 4_026_531_832
    public var uid: UInt32 = 0
    public var timestamp: UInt64 = 1_000_000_000
    public var holder: UInt64 = 0xffff_8881_03c4_e400
    public var ret: Int64 = 0
    public var comm = "python3"

    public init() {}

    public var bytes: [UInt8] {
        var out = [UInt8]()
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        put(UInt16(1)); put(UInt16(64)); put(major << 20 | minor)
        put(pid); put(tid); put(mntns); put(uid)
        put(timestamp); put(holder); put(ret)
        let name = Array(comm.utf8.prefix(16))
        out += name + [UInt8](repeating: 0, count: 16 - name.count)
        return out
    }

    public func withRecord<R>(_ body: (ClaimRecord) throws -> R) throws -> R {
        try bytes.withUnsafeBytes { try body(try ClaimRecord(validating: $0)) }
    }
}
