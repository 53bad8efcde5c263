/// The protobuf wire format, for the few messages a Perfetto trace needs
/// (`PerfettoTrace`): varints, zigzag-free signed integers (Perfetto's
/// fields are `int64`/`uint64`, not `sint64`), fixed64, doubles and
/// length-delimited fields. Written by hand rather than with swift-protobuf:
/// a dozen message types need no code generator, its plugin build takes
/// minutes here, and the shipped binary stays small (docs/architecture.md).
///
/// A message is built in its own buffer and appended to its parent with
/// its length in front; packets are small (one event each), so the copy
/// is cheap and nothing needs patching afterwards.
public struct ProtoWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// Wire types (the low 3 bits of a field's key).
    enum WireType: UInt64 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
    }

    @inline(__always)
    mutating func key(_ field: Int, _ type: WireType) {
        appendVarint(UInt64(field) << 3 | type.rawValue)
    }

    /// Base 128, least significant group first, high bit set on all but the last byte.
    public mutating func appendVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// An unsigned field (`uint32`, `uint64`, `bool`, an enum).
    public mutating func uint(_ field: Int, _ value: UInt64) {
        key(field, .varint)
        appendVarint(value)
    }

    /// An `int32`/`int64` field: a negative value is its two's complement
    /// as ten bytes, as protobuf encodes it.
    public mutating func int(_ field: Int, _ value: Int64) {
        uint(field, UInt64(bitPattern: value))
    }

    public mutating func bool(_ field: Int, _ value: Bool) {
        uint(field, value ? 1 : 0)
    }

    /// A `fixed64` field: eight bytes, little-endian.
    public mutating func fixed64(_ field: Int, _ value: UInt64) {
        key(field, .fixed64)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// A `double` field: its IEEE 754 bits as fixed64.
    public mutating func double(_ field: Int, _ value: Double) {
        fixed64(field, value.bitPattern)
    }

    /// A `string` or `bytes` field.
    public mutating func lengthDelimited(_ field: Int, _ value: some Collection<UInt8>) {
        key(field, .lengthDelimited)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ field: Int, _ value: String) {
        lengthDelimited(field, value.utf8)
    }

    /// An embedded message, built by `body`.
    public mutating func message(_ field: Int, _ body: (inout ProtoWriter) -> Void) {
        var inner = ProtoWriter()
        body(&inner)
        lengthDelimited(field, inner.bytes)
    }
}
