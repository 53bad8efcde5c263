/// Bytes moved per second of call time, as copies report it: MiB/s
/// (2^20 bytes). One formula for the text line, JSON and `summary`.
public enum Throughput {
    /// nil when nothing moved or no time was measured.
    @inline(__always)
    public static func mebibytesPerSecond(bytes: UInt64, nanoseconds: UInt64) -> Double? {
        guard bytes > 0, nanoseconds > 0 else { return nil }
        return Double(bytes) * 1e9 / Double(nanoseconds) / 1_048_576
    }

    /// The same in tenths of a MiB/s, rounded half up (what "754.3 MiB/s" shows).
    @inline(__always)
    public static func tenthsOfMebibytesPerSecond(bytes: UInt64, nanoseconds: UInt64) -> UInt64? {
        guard let value = mebibytesPerSecond(bytes: bytes, nanoseconds: nanoseconds) else { return nil }
        let tenths = (value * 10).rounded()
        return tenths < 1.8e19 ? UInt64(tenths) : .max
    }
}
