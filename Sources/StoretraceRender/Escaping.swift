/// How `appendPrintable` spells a byte it escapes.
public enum EscapeSpelling: Sendable {
    /// `\x1b`, as /dev/kmsg and strace write it.
    case hex
    /// `\033`, as /proc/PID/mountinfo writes it.
    case octal
}

/// Text safe for a terminal, for messages built as Strings (file names and
/// user input in error lines): the same escaping as `appendPrintable`.
public func escapedForTerminal(_ text: String) -> String {
    var out = OutputBuffer(capacity: text.utf8.count + 16)
    out.appendPrintable(string: text)
    return String(decoding: out.bytes, as: UTF8.self)
}

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

    /// The one escaper for text that reaches a terminal unquoted: comm,
    /// uevent fields, kmsg text, tracepoint and symbol names, snapshot
    /// fields, and messages that echo a file name or user input. Printable
    /// ASCII and well-formed UTF-8 pass as they are; every byte of a C0
    /// control, DEL, a C1 control (U+0080–U+009F: U+009B is CSI to terminals
    /// that take 8-bit controls), an ill-formed UTF-8 sequence (a raw 0x9B),
    /// and the backslash itself (so an escape cannot be faked) is written as
    /// `\xNN` (as /dev/kmsg does) or `\NNN` (as mountinfo does).
    /// `escapingSpaces` also escapes spaces, for table cells.
    public mutating func appendPrintable(_ text: UnsafeRawBufferPointer, spelling: EscapeSpelling = .hex,
                                         escapingSpaces: Bool = false) {
        var index = 0
        let count = text.count
        while index < count {
            // Runs of plain ASCII (most names) in one copy.
            var end = index
            while end < count, case let byte = text[end], byte > 0x20 || (byte == 0x20 && !escapingSpaces),
                  byte < 0x7f, byte != UInt8(ascii: "\\") {
                end += 1
            }
            if end > index {
                append(bytes: UnsafeRawBufferPointer(rebasing: text[index..<end]))
                index = end
                continue
            }
            var length = 1
            if text[index] >= 0x80 {
                length = Self.utf8SequenceLength(text, at: index)
                if length > 0 && !Self.isC1Control(text, at: index) {
                    append(bytes: UnsafeRawBufferPointer(rebasing: text[index..<(index + length)]))
                    index += length
                    continue
                }
                length = max(length, 1)
            }
            for byte in text[index..<(index + length)] { appendEscapedByte(byte, spelling) }
            index += length
        }
    }

    public mutating func appendPrintable(string: String, spelling: EscapeSpelling = .hex, escapingSpaces: Bool = false) {
        var copy = string
        copy.withUTF8 { appendPrintable(UnsafeRawBufferPointer($0), spelling: spelling, escapingSpaces: escapingSpaces) }
    }

    private mutating func appendEscapedByte(_ byte: UInt8, _ spelling: EscapeSpelling) {
        switch spelling {
        case .hex:
            append("\\x")
            appendHexByte(byte)
        case .octal:
            append(UInt8(ascii: "\\"))
            append(UInt8(ascii: "0") + byte >> 6)
            append(UInt8(ascii: "0") + byte >> 3 & 7)
            append(UInt8(ascii: "0") + byte & 7)
        }
    }

    /// Whether the well-formed sequence at `index` is U+0080–U+009F (C2 80–C2 9F).
    @inline(__always)
    static func isC1Control(_ text: UnsafeRawBufferPointer, at index: Int) -> Bool {
        text[index] == 0xC2 && index + 1 < text.count && text[index + 1] < 0xA0
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
            } else if Self.isC1Control(text, at: index) {
                // Valid JSON raw, but a terminal showing the JSON would obey it.
                append("\\u00")
                appendHexByte(text[index + 1]) // U+0080–U+009F is C2 80–C2 9F
                index += 2
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
