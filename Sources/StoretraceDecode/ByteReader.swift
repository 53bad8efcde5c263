/// The byte order a piece of data declares for its integers.
public enum ByteOrder: Sendable, Equatable {
    case little, big

    public static var host: ByteOrder { 1.littleEndian == 1 ? .little : .big }
}

/// Reads fixed-width integers from bytes, front to back, bounds-checked and
/// in the byte order the data declares: a read past the end returns nil and
/// consumes nothing. The one integer reader of record and capture payloads.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public let order: ByteOrder
    public private(set) var offset = 0

    public init(_ bytes: UnsafeRawBufferPointer, order: ByteOrder) {
        self.bytes = bytes
        self.order = order
    }

    public var remaining: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[offset...]) }

    @inline(__always)
    public mutating func read<T: FixedWidthInteger>(_ type: T.Type) -> T? {
        guard let value = peek(T.self, at: offset) else { return nil }
        offset += MemoryLayout<T>.size
        return value
    }

    /// The integer at `position`, without moving.
    @inline(__always)
    public func peek<T: FixedWidthInteger>(_ type: T.Type, at position: Int) -> T? {
        guard position >= 0, position <= bytes.count - MemoryLayout<T>.size else { return nil }
        let raw = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        return order == .little ? T(littleEndian: raw) : T(bigEndian: raw)
    }

    public mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, count <= bytes.count - offset else { return false }
        offset += count
        return true
    }
}
