extension OutputBuffer {
    /// A C-style quoted string as strace prints it: printable ASCII as is,
    /// `\"`, `\\`, `\n`, `\t`, and every other byte as `\xNN`. Bytes from the
    /// kernel are untrusted and must never reach a terminal raw.
    public mutating func appendQuoted(_ text: UnsafeRawBufferPointer) {
        append(UInt8(ascii: "\""))
        for byte in text {
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case UInt8(ascii: "\n"): append("\\n")
            case UInt8(ascii: "\t"): append("\\t")
            case 0x20..<0x7f: append(byte)
            default:
                append("\\x")
                appendHexByte(byte)
            }
        }
        append(UInt8(ascii: "\""))
    }

    /// Bytes safe to print on a terminal (comm): control bytes become `?`.
    public mutating func appendPrintable(_ text: UnsafeRawBufferPointer) {
        for byte in text {
            append(byte >= 0x20 && byte != 0x7f ? byte : UInt8(ascii: "?"))
        }
    }

    /// A JSON string literal (RFC 8259). Valid UTF-8 passes through; each byte
    /// of an invalid sequence becomes U+FFFD, so the output is always valid JSON.
    public mutating func appendJSONString(_ text: UnsafeRawBufferPointer) {
        append(UInt8(ascii: "\""))
        var index = 0
        let count = text.count
        while index < count {
            // Runs of bytes that need no escaping (most paths) in one copy.
            var end = index
            while end < count, case let byte = text[end], byte >= 0x20, byte < 0x7f, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                end += 1
            }
            if end > index {
                append(bytes: UnsafeRawBufferPointer(rebasing: text[index..<end]))
                index = end
                continue
            }
            let byte = text[index]
            if byte < 0x80 {
                switch byte {
                case UInt8(ascii: "\""): append("\\\"")
                case UInt8(ascii: "\\"): append("\\\\")
                case UInt8(ascii: "\n"): append("\\n")
                case UInt8(ascii: "\r"): append("\\r")
                case UInt8(ascii: "\t"): append("\\t")
                case 0..<0x20, 0x7f:
                    append("\\u00")
                    appendHexByte(byte)
                default: append(byte)
                }
                index += 1
                continue
            }
            let length = Self.utf8SequenceLength(text, at: index)
            if length == 0 {
                append("\u{FFFD}")
                index += 1
            } else {
                append(bytes: UnsafeRawBufferPointer(rebasing: text[index..<(index + length)]))
                index += length
            }
        }
        append(UInt8(ascii: "\""))
    }

    public mutating func appendJSONString(_ text: StaticString) {
        text.withUTF8Buffer { appendJSONString(UnsafeRawBufferPointer($0)) }
    }

    mutating func appendHexByte(_ byte: UInt8) {
        let digits: StaticString = "0123456789abcdef"
        digits.withUTF8Buffer { table in
            append(table[Int(byte >> 4)])
            append(table[Int(byte & 0xf)])
        }
    }

    /// Length of the well-formed UTF-8 sequence starting at `index`, or 0.
    static func utf8SequenceLength(_ text: UnsafeRawBufferPointer, at index: Int) -> Int {
        let lead = text[index]
        let length: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upper = 0x9F
        case 0xF0: length = 4; lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upper = 0x8F
        default: return 0
        }
        guard index + length <= text.count else { return 0 }
        for offset in 1..<length {
            let byte = text[index + offset]
            let (low, high) = offset == 1 ? (lower, upper) : (UInt8(0x80), UInt8(0xBF))
            guard byte >= low && byte <= high else { return 0 }
        }
        return length
    }
}
