/// The byte order a piece of data declares for its integers.
public enum ByteOrder: Sendable, Equatable {
    case little, big

    @inlinable
    public static var host: ByteOrder { 1.littleEndian == 1 ? .little : .big }
}

/// Reads fixed-width integers from bytes, bounds-checked and in the byte order
/// the data declares. The one integer reader of every payload storetrace
/// parses: capture headers, chunks and records, BPF records, ftrace pages and
/// trace formats.
///
/// Two ways to read, as swift-nio's `ByteBuffer` has:
/// - `read`/`peek` for data whose length is not yet known to hold the value:
///   nil past the end, and `read` consumes nothing then;
/// - `field(_:at:)` for a fixed layout whose whole size the caller has already
///   checked once (a 48-byte chunk header, a validated BPF record): a read
///   outside the bytes is the caller's bug, not bad data, so it traps rather
///   than hand back a made-up value.
///
/// Its own module, below both the decoders and the capture container, so
/// that both read integers the same way.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public let order: ByteOrder
    /// How far `read` and `skip` have moved.
    public var offset: Int { consumed }
    @usableFromInline var consumed = 0

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, order: ByteOrder) {
        self.bytes = bytes
        self.order = order
    }

    @inlinable
    public var remaining: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[consumed...]) }

    @inlinable @inline(__always)
    public mutating func read<T: FixedWidthInteger>(_ type: T.Type) -> T? {
        guard let value = peek(T.self, at: consumed) else { return nil }
        consumed += MemoryLayout<T>.size
        return value
    }

    /// The integer at `position`, without moving; nil if it does not fit.
    @inlinable @inline(__always)
    public func peek<T: FixedWidthInteger>(_ type: T.Type, at position: Int) -> T? {
        guard position >= 0, position <= bytes.count - MemoryLayout<T>.size else { return nil }
        return load(T.self, at: position)
    }

    /// The integer at `position` of a layout whose size the caller has
    /// validated: traps (a bug in the caller) if it does not fit.
    @inlinable @inline(__always)
    public func field<T: FixedWidthInteger>(_ type: T.Type, at position: Int) -> T {
        precondition(position >= 0 && position <= bytes.count - MemoryLayout<T>.size,
                     "field read outside a validated layout")
        return load(T.self, at: position)
    }

    @inlinable @inline(__always)
    public mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, count <= bytes.count - consumed else { return false }
        consumed += count
        return true
    }

    @inlinable @inline(__always)
    func load<T: FixedWidthInteger>(_ type: T.Type, at position: Int) -> T {
        let raw = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        return order == .little ? T(littleEndian: raw) : T(bigEndian: raw)
    }
}
