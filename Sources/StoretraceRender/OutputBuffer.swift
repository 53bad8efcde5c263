import Glibc
import StoretraceDecode

/// A growable byte buffer that renderers append to and sinks drain. It is
/// reused for every event: once it has grown to the largest batch it keeps
/// its capacity, so rendering allocates nothing in the steady state.
///
/// Raw storage rather than `[UInt8]`: a rendered line is some forty small
/// appends, and Array's generic `append(contentsOf:)` (a uniqueness check, a
/// capacity check and a generic copy each time) was a third of the tracer's
/// CPU. Here an append is one capacity check and a `memcpy`. The buffer is
/// not copyable (it owns its memory, freed in `deinit`): there is no shared
/// storage to check for uniqueness on every append, and nothing to retain.
public struct OutputBuffer: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    public private(set) var count = 0

    public init(capacity: Int = 64 * 1024) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// A copy of the contents (tests, one-off text); the hot path uses
    /// `withUnsafeBytes`.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    public var isEmpty: Bool { count == 0 }

    public subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < count, "OutputBuffer index out of range")
        return base[index]
    }

    public mutating func removeAll() {
        count = 0
    }

    /// Room for at least `needed` bytes in all.
    @inline(__always)
    private mutating func ensureCapacity(_ needed: Int) {
        if needed > capacity { grow(to: needed) }
    }

    private mutating func grow(to needed: Int) {
        var size = capacity
        while size < needed { size *= 2 }
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        fresh.update(from: base, count: count)
        base.deallocate()
        base = fresh
        capacity = size
    }

    /// Room for `extra` more bytes; returns where they go. The caller writes
    /// them and then calls `commit`.
    @inline(__always)
    private mutating func reserve(_ extra: Int) -> UnsafeMutablePointer<UInt8> {
        ensureCapacity(count + extra)
        return base + count
    }

    @inline(__always)
    private mutating func commit(_ written: Int) { count += written }

    @inline(__always)
    public mutating func append(_ byte: UInt8) {
        reserve(1).pointee = byte
        commit(1)
    }

    @inline(__always)
    public mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { append(bytes: UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    public mutating func append(bytes other: UnsafeRawBufferPointer) {
        guard let source = other.baseAddress, other.count > 0 else { return }
        memcpy(reserve(other.count), source, other.count)
        commit(other.count)
    }

    /// `,"name":`, a JSON object's next key: one reservation and a copy
    /// (three appends cost more than the bytes they wrote).
    @inline(__always)
    public mutating func appendJSONKey(_ name: StaticString) {
        let length = name.utf8CodeUnitCount
        let out = reserve(length + 4)
        out[0] = UInt8(ascii: ",")
        out[1] = UInt8(ascii: "\"")
        (out + 2).update(from: name.utf8Start, count: length)
        out[length + 2] = UInt8(ascii: "\"")
        out[length + 3] = UInt8(ascii: ":")
        commit(length + 4)
    }

    /// For text computed once (not per event).
    public mutating func append(string: String) {
        var copy = string
        copy.withUTF8 { append(bytes: UnsafeRawBufferPointer($0)) }
    }

    public mutating func append(repeating byte: UInt8, count: Int) {
        guard count > 0 else { return }
        memset(reserve(count), Int32(byte), count)
        commit(count)
    }

    public mutating func appendDecimal<T: BinaryInteger>(_ value: T) {
        if value < 0 {
            append(UInt8(ascii: "-"))
            appendUnsigned(UInt64(value.magnitude))
        } else {
            appendUnsigned(UInt64(value))
        }
    }

    /// `value` in decimal, left-padded with zeros to `width` digits (the
    /// fields of a time stamp): exactly `width` bytes, two digits per step,
    /// no length to work out. A value too wide (or negative) is written whole.
    public mutating func appendDecimal(_ value: Int, width: Int) {
        guard value >= 0, width > 0, width < Self.powersOfTen.count,
              UInt64(value) < Self.powersOfTen.withUnsafeBufferPointer({ $0[width] }) else {
            appendDecimal(value)
            return
        }
        let out = reserve(width)
        Self.digitPairs.withUTF8Buffer { pairs in
            var index = width
            var rest = UInt64(value)
            while index >= 2 {
                let pair = Int(rest % 100) * 2
                rest /= 100
                index -= 2
                out[index] = pairs[pair]
                out[index + 1] = pairs[pair + 1]
            }
            if index == 1 { out[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest) }
        }
        commit(width)
    }

    /// "00" "01" ... "99": two digits per division.
    private static let digitPairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

    /// 10^0 ... 10^19; a literal, so it is laid out at compile time (no lazy initialization per use).
    private static let powersOfTen: [UInt64] = [
        1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000,
        10_000_000_000, 100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000,
        1_000_000_000_000_000, 10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000,
        10_000_000_000_000_000_000,
    ]

    /// The number of decimal digits of `value`: from its bit length (log10(2)
    /// ≈ 1233 / 4096), corrected by one comparison, instead of a loop of them.
    @inline(__always)
    static func decimalLength(_ value: UInt64) -> Int {
        let guess = ((64 - (value | 1).leadingZeroBitCount) &* 1233) >> 12 // 0...19
        return powersOfTen.withUnsafeBufferPointer { guess &+ (value >= $0[guess] ? 1 : 0) }
    }

    private mutating func appendUnsigned(_ value: UInt64) {
        if value < 10 {
            append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            return
        }
        let length = Self.decimalLength(value)
        let out = reserve(length)
        Self.digitPairs.withUTF8Buffer { pairs in
            var index = length
            var rest = value
            while rest >= 100 {
                let pair = Int(rest % 100) * 2
                rest /= 100
                index -= 2
                out[index] = pairs[pair]
                out[index + 1] = pairs[pair + 1]
            }
            if rest >= 10 {
                let pair = Int(rest) * 2
                out[index - 2] = pairs[pair]
                out[index - 1] = pairs[pair + 1]
            } else {
                out[index - 1] = UInt8(ascii: "0") + UInt8(rest)
            }
        }
        commit(length)
    }

    public mutating func appendHex(_ value: UInt64, prefix: Bool = true) {
        if prefix { append("0x") }
        var started = false
        for shift in stride(from: 60, through: 0, by: -4) {
            let nibble = UInt8((value >> UInt64(shift)) & 0xf)
            if nibble != 0 || started || shift == 0 {
                started = true
                append(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10)
            }
        }
    }

    /// Display width of what was appended since `start`: UTF-8 continuation
    /// bytes count zero, and so do ANSI color sequences if asked.
    public func displayWidth(since start: Int, skippingEscapes: Bool = true) -> Int {
        let bytes = base
        var width = 0
        var index = start
        while index < count {
            let byte = bytes[index]
            if skippingEscapes && byte == 0x1B {
                // CSI: ESC [ parameters final-byte (0x40...0x7E)
                index += 2
                while index < count && !(0x40...0x7E).contains(bytes[index]) { index += 1 }
                index += 1
                continue
            }
            if byte & 0xC0 != 0x80 { width += 1 }
            index += 1
        }
        return width
    }

    /// Inserts `count` spaces at `index` (right-aligning what follows); the
    /// bytes move within the reserved capacity.
    public mutating func insertSpaces(at index: Int, count: Int) {
        guard count > 0 else { return }
        precondition(index >= 0 && index <= self.count, "OutputBuffer index out of range")
        let tail = self.count - index
        _ = reserve(count)
        let at = base + index
        memmove(at + count, at, tail)
        memset(at, Int32(UInt8(ascii: " ")), count)
        commit(count)
    }

    /// Inserts `bytes` at `index`; what follows moves up.
    public mutating func insert(bytes: UnsafeRawBufferPointer, at index: Int) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(index >= 0 && index <= self.count, "OutputBuffer index out of range")
        let tail = self.count - index
        _ = reserve(bytes.count)
        let at = base + index
        memmove(at + bytes.count, at, tail)
        memcpy(at, source, bytes.count)
        commit(bytes.count)
    }

    /// Pads with spaces so that the text since `start` is `width` columns wide.
    public mutating func pad(since start: Int, to width: Int) {
        append(repeating: UInt8(ascii: " "), count: width - displayWidth(since: start))
    }
}

extension OutputBuffer {
    /// `754.3 MiB/s` (`Throughput`); `-` when nothing moved or no time was measured.
    public mutating func appendThroughput(bytes: UInt64, nanoseconds: UInt64) {
        guard let tenths = Throughput.tenthsOfMebibytesPerSecond(bytes: bytes, nanoseconds: nanoseconds) else {
            append(UInt8(ascii: "-"))
            return
        }
        appendDecimal(tenths / 10)
        append(UInt8(ascii: "."))
        appendDecimal(tenths % 10)
        append(" MiB/s")
    }
}
