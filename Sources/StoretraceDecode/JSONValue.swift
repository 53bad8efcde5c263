// A small JSON reader and writer for documents storetrace stores and reads
// back (the node snapshot). Not for the event hot path: the JSON lines
// renderer writes events directly. No Foundation (start-up time).
//
// The reader is written for hostile input: a capture copied off a broken
// node may be cut or corrupted anywhere. It is bounded in input size, nesting
// depth and number of values, reports the byte offset of the first problem,
// and never traps.

/// One parsed JSON value. Numbers keep their literal text so integers of any
/// width (nanosecond clocks, inode numbers) come back exactly; the accessors
/// convert and check range.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number exactly as written; valid JSON number syntax.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order. Duplicate keys are kept; lookups take the last.
    case object([Member])

    public struct Member: Equatable, Sendable {
        public var key: String
        public var value: JSONValue

        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// The value of `key` in an object (the last one when repeated); nil for
    /// a missing key or when this is not an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.key == key })?.value
    }

    public static func integer<T: BinaryInteger>(_ value: T) -> JSONValue {
        .number(String(value))
    }

    /// The number as a `T` when it is an integer literal (no fraction or
    /// exponent) inside `T`'s range; nil otherwise.
    public func integer<T: FixedWidthInteger>(as type: T.Type = T.self) -> T? {
        guard case .number(let text) = self else { return nil }
        return T(text, radix: 10)
    }

    public var stringValue: String? {
        guard case .string(let text) = self else { return nil }
        return text
    }

    public var boolValue: Bool? {
        guard case .bool(let flag) = self else { return nil }
        return flag
    }

    public var arrayValue: [JSONValue]? {
        guard case .array(let elements) = self else { return nil }
        return elements
    }
}

/// Where the reader stopped and why, for a one-line error.
public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Byte offset into the input of the first problem.
    public var offset: Int
    public var reason: String

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// Bounds that keep a hostile document from exhausting memory or stack.
public struct JSONLimits: Sendable {
    /// Largest input accepted, in bytes.
    public var maxBytes: Int
    /// Deepest nesting of arrays and objects.
    public var maxDepth: Int
    /// Most values (of any kind) in the whole document: a 64 MiB input of
    /// `[0,0,0,…]` would otherwise become tens of millions of enum cases.
    public var maxValues: Int

    public init(maxBytes: Int = 256 << 20, maxDepth: Int = 64, maxValues: Int = 8_000_000) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxValues = maxValues
    }
}

extension JSONValue {
    /// Parses one JSON document (RFC 8259). Whitespace may surround it;
    /// anything else after it is an error.
    public static func parse(_ bytes: [UInt8], limits: JSONLimits = JSONLimits()) throws(JSONParseError) -> JSONValue {
        guard bytes.count <= limits.maxBytes else {
            throw JSONParseError(offset: limits.maxBytes, reason: "document larger than \(limits.maxBytes) bytes")
        }
        return try bytes.withUnsafeBufferPointer { (buffer) throws(JSONParseError) -> JSONValue in
            var reader = JSONReader(bytes: buffer, limits: limits)
            reader.skipWhitespace()
            let value = try reader.value(depth: 0)
            reader.skipWhitespace()
            if reader.position != buffer.count {
                throw reader.error("unexpected content after the document")
            }
            return value
        }
    }

    public static func parse(_ text: String, limits: JSONLimits = JSONLimits()) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8), limits: limits)
    }
}

private struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    let limits: JSONLimits
    var position = 0
    var valueCount = 0

    init(bytes: UnsafeBufferPointer<UInt8>, limits: JSONLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    func error(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? position, reason: reason)
    }

    var atEnd: Bool { position >= bytes.count }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func expect(_ literal: StaticString, producing value: JSONValue) throws(JSONParseError) -> JSONValue {
        let start = position
        let matched = literal.withUTF8Buffer { utf8 -> Bool in
            guard bytes.count - position >= utf8.count else { return false }
            for index in 0..<utf8.count where bytes[position + index] != utf8[index] {
                return false
            }
            return true
        }
        guard matched else { throw error("expected \(literal)", at: start) }
        position += literal.utf8CodeUnitCount
        return value
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard !atEnd else { throw error("unexpected end of input") }
        valueCount += 1
        guard valueCount <= limits.maxValues else { throw error("more than \(limits.maxValues) values") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", producing: .bool(true))
        case UInt8(ascii: "f"): return try expect("false", producing: .bool(false))
        case UInt8(ascii: "n"): return try expect("null", producing: .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected byte 0x\(String(bytes[position], radix: 16))")
        }
    }

    mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= limits.maxDepth else { throw error("nested deeper than \(limits.maxDepth)") }
        position += 1 // {
        var members: [JSONValue.Member] = []
        skipWhitespace()
        if !atEnd, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard !atEnd else { throw error("unexpected end of input in an object") }
            guard bytes[position] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try string()
            skipWhitespace()
            guard !atEnd, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
            position += 1
            skipWhitespace()
            members.append(JSONValue.Member(key, try value(depth: depth)))
            skipWhitespace()
            guard !atEnd else { throw error("unexpected end of input in an object") }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return .object(members)
            default: throw error("expected ',' or '}' in an object")
            }
        }
    }

    mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= limits.maxDepth else { throw error("nested deeper than \(limits.maxDepth)") }
        position += 1 // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if !atEnd, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth))
            skipWhitespace()
            guard !atEnd else { throw error("unexpected end of input in an array") }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                return .array(elements)
            default: throw error("expected ',' or ']' in an array")
            }
        }
    }

    mutating func number() throws(JSONParseError) -> JSONValue {
        let start = position
        func digits(_ reader: inout JSONReader) -> Int {
            var count = 0
            while !reader.atEnd, reader.bytes[reader.position] >= 0x30, reader.bytes[reader.position] <= 0x39 {
                reader.position += 1
                count += 1
            }
            return count
        }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard !atEnd else { throw error("unexpected end of input in a number") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else if digits(&self) == 0 {
            throw error("expected a digit")
        }
        if !atEnd, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits(&self) > 0 else { throw error("expected a digit after '.'") }
        }
        if !atEnd, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if !atEnd, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard digits(&self) > 0 else { throw error("expected a digit in the exponent") }
        }
        return .number(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self))
    }

    /// A string starting at the opening quote. Invalid UTF-8 and unpaired
    /// surrogate escapes become U+FFFD rather than errors: text from the
    /// kernel (paths, comm) is not guaranteed to be UTF-8.
    mutating func string() throws(JSONParseError) -> String {
        position += 1 // "
        var utf8: [UInt8] = []
        var runStart = position
        while true {
            guard !atEnd else { throw error("unterminated string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                utf8.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<position]))
                position += 1
                return String(decoding: utf8, as: UTF8.self)
            }
            if byte < 0x20 { throw error("control character in a string") }
            if byte != UInt8(ascii: "\\") {
                position += 1
                continue
            }
            utf8.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<position]))
            position += 1
            guard !atEnd else { throw error("unterminated escape") }
            let escaped = bytes[position]
            position += 1
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate combines with a following \uDC00-\uDFFF.
                    if bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"),
                       bytes[position + 1] == UInt8(ascii: "u") {
                        let save = position
                        position += 2
                        let low = try hex4()
                        if (0xDC00..<0xE000).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            position = save
                            scalar = 0xFFFD
                        }
                    } else {
                        scalar = 0xFFFD
                    }
                } else if (0xDC00..<0xE000).contains(scalar) {
                    scalar = 0xFFFD
                }
                utf8.append(contentsOf: String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
            default:
                throw error("invalid escape", at: position - 2)
            }
            runStart = position
        }
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard bytes.count - position >= 4 else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = ASCII.hexValue(bytes[position]) else { throw error("invalid hex digit in \\u escape") }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }
}

// MARK: - Writing

extension JSONValue {
    /// How `serialized` lays a document out.
    public enum Layout: Sendable {
        /// One line, no spaces.
        case compact
        /// For people and `grep`: the top-level object's members one per
        /// line, and any array whose elements are objects one element per
        /// line (so one process or one mount per line); everything else
        /// inline.
        case lines
    }

    public func serialized(_ layout: Layout = .compact) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(into: &out, layout: layout, indent: 0, topLevel: true)
        return String(decoding: out, as: UTF8.self)
    }

    private func write(into out: inout [UInt8], layout: Layout, indent: Int, topLevel: Bool) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let text): Self.writeString(text, into: &out)
        case .array(let elements):
            let multiline = layout == .lines && elements.contains(where: {
                if case .object = $0 { return true } else { return false }
            })
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(contentsOf: multiline || layout == .compact ? [0x2C] : [0x2C, 0x20]) }
                if multiline { Self.newline(indent + 1, into: &out) }
                element.write(into: &out, layout: layout, indent: indent + 1, topLevel: false)
            }
            if multiline, !elements.isEmpty { Self.newline(indent, into: &out) }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            let multiline = layout == .lines && topLevel
            out.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { out.append(contentsOf: multiline || layout == .compact ? [0x2C] : [0x2C, 0x20]) }
                if multiline { Self.newline(indent + 1, into: &out) }
                Self.writeString(member.key, into: &out)
                out.append(contentsOf: layout == .compact ? [0x3A] : [0x3A, 0x20])
                member.value.write(into: &out, layout: layout, indent: indent + 1, topLevel: false)
            }
            if multiline, !members.isEmpty { Self.newline(indent, into: &out) }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func newline(_ indent: Int, into out: inout [UInt8]) {
        out.append(0x0A)
        for _ in 0..<indent { out.append(contentsOf: [0x20, 0x20]) }
    }

    /// A JSON string literal: quote, backslash and control characters
    /// escaped, everything else as UTF-8.
    static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x00..<0x20, 0x7F:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
