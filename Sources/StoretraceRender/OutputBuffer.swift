/// A growable byte buffer that renderers append to and sinks drain. It is
/// reused for every event: once it has grown to the largest line it keeps
/// its capacity, so rendering allocates nothing in the steady state.
public struct OutputBuffer {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64 * 1024) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }
    public var isEmpty: Bool { bytes.isEmpty }

    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    @inline(__always)
    public mutating func append(_ byte: UInt8) { bytes.append(byte) }

    public mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func append(bytes other: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: other)
    }

    /// For text computed once (not per event).
    public mutating func append(string: String) {
        bytes.append(contentsOf: string.utf8)
    }

    public mutating func append(repeating byte: UInt8, count: Int) {
        guard count > 0 else { return }
        for _ in 0..<count { bytes.append(byte) }
    }

    public mutating func appendDecimal<T: BinaryInteger>(_ value: T) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            appendUnsigned(UInt64(value.magnitude))
        } else {
            appendUnsigned(UInt64(value))
        }
    }

    /// `value` in decimal, left-padded with zeros to `width` digits.
    public mutating func appendDecimal(_ value: Int, width: Int) {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        append(repeating: UInt8(ascii: "0"), count: width - digits)
        appendUnsigned(UInt64(value))
    }

    private mutating func appendUnsigned(_ value: UInt64) {
        // Digits land in a fixed tuple-sized scratch to stay off the heap.
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &scratch) { raw in
            var index = raw.count
            var rest = value
            repeat {
                index -= 1
                raw[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[index...]))
        }
    }

    public mutating func appendHex(_ value: UInt64, prefix: Bool = true) {
        if prefix { append("0x") }
        var started = false
        for shift in stride(from: 60, through: 0, by: -4) {
            let nibble = UInt8((value >> UInt64(shift)) & 0xf)
            if nibble != 0 || started || shift == 0 {
                started = true
                bytes.append(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10)
            }
        }
    }

    /// Display width of what was appended since `start`: UTF-8 continuation
    /// bytes count zero, and so do ANSI color sequences if asked.
    public func displayWidth(since start: Int, skippingEscapes: Bool = true) -> Int {
        var width = 0
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            if skippingEscapes && byte == 0x1B {
                // CSI: ESC [ parameters final-byte (0x40...0x7E)
                index += 2
                while index < bytes.count && !(0x40...0x7E).contains(bytes[index]) { index += 1 }
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
        bytes.insert(contentsOf: repeatElement(UInt8(ascii: " "), count: count), at: index)
    }

    /// Pads with spaces so that the text since `start` is `width` columns wide.
    public mutating func pad(since start: Int, to width: Int) {
        append(repeating: UInt8(ascii: " "), count: width - displayWidth(since: start))
    }
}
