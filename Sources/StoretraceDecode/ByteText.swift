// Small helpers for the ASCII text the kernel hands us: tracefs format files,
// /proc/kallsyms, /dev/kmsg records and uevent messages. Everything works on
// byte views in place, so the hot-path parsers (uevent, kmsg) can use these
// without allocating. Internal on purpose: callers see typed values only.

enum ASCII {
    static let nul: UInt8 = 0x00
    static let tab: UInt8 = 0x09
    static let newline: UInt8 = 0x0A
    static let carriageReturn: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let comma: UInt8 = 0x2C
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let equals: UInt8 = 0x3D
    static let at: UInt8 = 0x40
    static let openBracket: UInt8 = 0x5B
    static let backslash: UInt8 = 0x5C
    static let closeBracket: UInt8 = 0x5D
    static let underscore: UInt8 = 0x5F
    static let asterisk: UInt8 = 0x2A
    static let lowercaseX: UInt8 = 0x78

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == space || byte == tab || byte == newline || byte == carriageReturn
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= zero && byte <= nine
    }

    /// Characters allowed in a C identifier (field names in format files).
    static func isIdentifier(_ byte: UInt8) -> Bool {
        isDigit(byte) || byte == underscore || ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A)
    }

    /// Value of one hex digit, either case; nil for anything else.
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}

extension UnsafeRawBufferPointer {
    /// A view of `range` without copying. The caller guarantees the range is
    /// inside the buffer (every call site derives it from a bounds-checked scan).
    @inline(__always)
    func view(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[range])
    }

    /// First index of `byte` in `range`, or nil.
    func firstIndex(of byte: UInt8, in range: Range<Int>) -> Int? {
        var index = range.lowerBound
        while index < range.upperBound {
            if self[index] == byte { return index }
            index += 1
        }
        return nil
    }

    /// The prefix of `range` that ends before the first NUL (C string semantics).
    func rangeBeforeNul(_ range: Range<Int>) -> Range<Int> {
        range.lowerBound..<(firstIndex(of: ASCII.nul, in: range) ?? range.upperBound)
    }

    /// True when the bytes equal the UTF-8 of `literal`. No allocation.
    func equals(_ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { utf8 in
            guard utf8.count == count else { return false }
            for index in 0..<count where utf8[index] != self[index] {
                return false
            }
            return true
        }
    }

    /// True when the bytes start with the UTF-8 of `literal`. No allocation.
    func starts(with literal: StaticString) -> Bool {
        literal.withUTF8Buffer { utf8 in
            guard utf8.count <= count else { return false }
            for index in 0..<utf8.count where utf8[index] != self[index] {
                return false
            }
            return true
        }
    }

    /// True when the bytes end with the UTF-8 of `literal`. No allocation.
    func ends(with literal: StaticString) -> Bool {
        literal.withUTF8Buffer { utf8 in
            guard utf8.count <= count else { return false }
            let start = count - utf8.count
            for index in 0..<utf8.count where utf8[index] != self[start + index] {
                return false
            }
            return true
        }
    }

    /// Calls `body` with the ranges of the path's non-empty `/`-separated
    /// components (at most `limit`; the rest are not looked at) and their
    /// count, in memory of the stack: nothing is allocated.
    func withPathComponents<R>(limit: Int = 64, _ body: (UnsafeMutableBufferPointer<Range<Int>>, Int) -> R) -> R {
        withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: limit) { parts in
            var count = 0
            var start = 0
            while start < self.count, count < parts.count {
                let end = firstIndex(of: UInt8(ascii: "/"), in: start..<self.count) ?? self.count
                if end > start {
                    parts[count] = start..<end
                    count += 1
                }
                start = end + 1
            }
            return body(parts, count)
        }
    }

    /// `range` with leading and trailing spaces, tabs and line ends removed.
    func trimmed(_ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, ASCII.isWhitespace(self[lower]) { lower += 1 }
        while upper > lower, ASCII.isWhitespace(self[upper - 1]) { upper -= 1 }
        return lower..<upper
    }

    /// An unsigned decimal number filling the whole range; nil when empty,
    /// when any byte is not a digit, or on overflow.
    func decimal(_ range: Range<Int>) -> UInt64? {
        guard !range.isEmpty else { return nil }
        var value: UInt64 = 0
        for index in range {
            let byte = self[index]
            guard ASCII.isDigit(byte) else { return nil }
            let (timesTen, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = timesTen.addingReportingOverflow(UInt64(byte - ASCII.zero))
            guard !overflowA, !overflowB else { return nil }
            value = sum
        }
        return value
    }

    /// An unsigned hexadecimal number (no 0x prefix) filling the whole range;
    /// nil when empty, on a non-hex byte, or when longer than 16 digits.
    func hexadecimal(_ range: Range<Int>) -> UInt64? {
        guard !range.isEmpty, range.count <= 16 else { return nil }
        var value: UInt64 = 0
        for index in range {
            guard let digit = ASCII.hexValue(self[index]) else { return nil }
            value = value << 4 | UInt64(digit)
        }
        return value
    }

    /// Text for setup-time values (names, types). Invalid UTF-8 is repaired,
    /// never trapped on.
    func string(_ range: Range<Int>) -> String {
        String(decoding: view(range), as: UTF8.self)
    }

    /// Calls `body` with the range of each line (without its '\n'). A final
    /// line without a newline is still reported.
    func forEachLine<E: Error>(_ body: (Range<Int>) throws(E) -> Void) throws(E) {
        var lineStart = 0
        while lineStart < count {
            let lineEnd = firstIndex(of: ASCII.newline, in: lineStart..<count) ?? count
            try body(lineStart..<lineEnd)
            lineStart = lineEnd + 1
        }
    }
}
