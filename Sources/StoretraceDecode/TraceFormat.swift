import StoretraceBytes

// Parsers for the kernel's tracefs format descriptions, and readers that use
// them to pull typed field values out of raw trace records.
//
// Two kinds of text are parsed, both produced by the kernel and both built
// from the same `field:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;` lines:
//   - events/header_page: the layout of a ring-buffer page header
//     (kernel/trace/ring_buffer.c, ring_buffer_print_page_header);
//   - events/<system>/<event>/format: one event's record layout
//     (kernel/trace/trace_events.c, f_show).
// Parsing happens once at setup and may allocate. Reading fields from a
// record (FieldLayout.integer(in:) etc.) is the hot path and does not.

// MARK: - Errors

public enum TraceFormatError: Error, Equatable, Sendable {
    /// A `field:` line with no name or type, without `offset:`/`size:`, or
    /// with a value that is not a decimal number in 0..<2^31. `line` is 1-based.
    case malformedField(line: Int)
    /// An event format without a `name:` line.
    case missingName
    /// An event format without an `ID:` line.
    case missingID
    /// An `ID:` that is not a decimal number that fits common_type (u16).
    case invalidID(line: Int)
    /// A field the caller needs is not in the format (header_page's
    /// timestamp/commit/data, or the function event's ip/parent_ip).
    case missingField(String)
    /// A field exists but its size or kind cannot be what the kernel documents.
    case unexpectedFieldLayout(String)
}

/// Why a field could not be read from one record. Thrown by the readers; the
/// record is bad, not the format, so callers typically count and move on.
public enum TraceRecordError: Error, Equatable, Sendable {
    /// The field, or the dynamic data a __data_loc/__rel_loc word points at,
    /// does not lie inside the record.
    case outOfBounds(offset: Int, length: Int, recordSize: Int)
    /// Integer read on a field that is not a 1/2/4/8-byte integer or pointer.
    case notAnInteger
    /// String read on a field that is not a char array or __data_loc/__rel_loc.
    case notAString
    /// The record's common_type is not the event the decoder was built for.
    case unexpectedEventType(UInt16)
}

// MARK: - Field descriptions

/// How a field's bytes are to be interpreted, derived from its type text.
public enum FieldKind: Equatable, Sendable {
    /// A scalar of size 1, 2, 4 or 8 (`int`, `u64`, `pid_t`, `bool`, ...).
    case integer
    /// A pointer (`void *`, `const char *`): an address, read as an integer.
    case pointer
    /// `char name[N]`: text stored inline, NUL-padded (e.g. `char comm[16]`).
    /// `count` is the field size in bytes.
    case charArray(count: Int)
    /// Any other inline array (`u8 addr[4]`, `unsigned long args[]`).
    /// `elementCount` is nil when the brackets are empty or not a number.
    case array(elementCount: Int?)
    /// `__data_loc T[] name`: a u32 whose low 16 bits are the data's offset
    /// from the start of the record and high 16 bits its length in bytes.
    case dataLoc
    /// `__rel_loc T[] name`: same u32 layout as __data_loc, but the offset is
    /// counted from the end of this 4-byte field, not from the record start.
    case relLoc
    /// Anything else (structs, odd sizes). Only `bytes(in:)` reads these.
    case other
}

/// The allocation-free part of a field description: everything a reader needs
/// at decode time. Resolve it once by name (`EventFormat.layout(of:)`), keep
/// it, and read records with it.
public struct FieldLayout: Equatable, Sendable {
    /// Byte offset from the start of the record (the common fields included).
    public let offset: Int
    /// Size in bytes as the kernel reports it (4 for __data_loc/__rel_loc).
    public let size: Int
    public let isSigned: Bool
    public let kind: FieldKind

    public init(offset: Int, size: Int, isSigned: Bool, kind: FieldKind) {
        self.offset = offset
        self.size = size
        self.isSigned = isSigned
        self.kind = kind
    }
}

public struct FieldFormat: Equatable, Sendable {
    /// The field name without any array suffix (`comm`, not `comm[16]`).
    public let name: String
    /// The type as written by the kernel: `unsigned short`, `char` (for
    /// `char comm[16]`), `__data_loc char[]`, `const char *`.
    public let type: String
    public let layout: FieldLayout
    /// True for the fields before the blank line in an event format
    /// (common_type, common_flags, common_preempt_count, common_pid).
    public let isCommon: Bool

    public var offset: Int { layout.offset }
    public var size: Int { layout.size }
    public var isSigned: Bool { layout.isSigned }
    public var kind: FieldKind { layout.kind }

    public init(name: String, type: String, layout: FieldLayout, isCommon: Bool) {
        self.name = name
        self.type = type
        self.layout = layout
        self.isCommon = isCommon
    }
}

// MARK: - header_page

/// Where the parts of a ring-buffer page are, from `events/header_page`:
/// a u64 timestamp, the `commit` word (local_t: 8 bytes on 64-bit kernels),
/// then the event data. The page size is dataOffset + dataSize; it is never
/// assumed to be 4096 because sub-buffers can be resized (buffer_subbuf_size_kb).
public struct PageHeaderFormat: Equatable, Sendable {
    public let timestampOffset: Int
    public let commitOffset: Int
    /// 8 on 64-bit kernels, 4 on 32-bit ones. The missed-events count stored
    /// after the data is an `unsigned long`, which has the same size.
    public let commitSize: Int
    public let dataOffset: Int
    public let dataSize: Int

    /// Bytes in one page as read from trace_pipe_raw.
    public var pageSize: Int { dataOffset + dataSize }

    /// Checks the values describe a possible page: an 8-byte timestamp and a
    /// 4- or 8-byte commit word before the data, and a non-empty data area.
    public init(
        timestampOffset: Int, commitOffset: Int, commitSize: Int, dataOffset: Int, dataSize: Int
    ) throws(TraceFormatError) {
        let limit = Int(Int32.max)
        guard commitSize == 4 || commitSize == 8 else { throw .unexpectedFieldLayout("commit") }
        guard timestampOffset >= 0, commitOffset >= 0, dataOffset >= 0,
              timestampOffset + 8 <= dataOffset, commitOffset + commitSize <= dataOffset,
              dataSize > 0, dataOffset <= limit, dataSize <= limit
        else { throw .unexpectedFieldLayout("data") }
        self.timestampOffset = timestampOffset
        self.commitOffset = commitOffset
        self.commitSize = commitSize
        self.dataOffset = dataOffset
        self.dataSize = dataSize
    }

    /// Parses the text of `events/header_page`.
    public init(parsing text: UnsafeRawBufferPointer) throws(TraceFormatError) {
        var timestamp: FieldFormat?
        var commit: FieldFormat?
        var data: FieldFormat?
        var lineNumber = 0
        try text.forEachLine { (line) throws(TraceFormatError) in
            lineNumber += 1
            let content = text.trimmed(line)
            guard text.view(content).starts(with: "field:") else { return }
            let field = try FormatText.parseField(text, content, lineNumber: lineNumber, isCommon: false)
            switch field.name {
            case "timestamp": timestamp = field
            case "commit": commit = field
            case "data": data = field
            default: break  // "overwrite" aliases the commit word; its flag bits are read from commit.
            }
        }
        guard let timestamp else { throw .missingField("timestamp") }
        guard let commit else { throw .missingField("commit") }
        guard let data else { throw .missingField("data") }
        guard timestamp.size == 8 else { throw .unexpectedFieldLayout("timestamp") }
        try self.init(
            timestampOffset: timestamp.offset, commitOffset: commit.offset, commitSize: commit.size,
            dataOffset: data.offset, dataSize: data.size)
    }

    public init(parsing text: [UInt8]) throws(TraceFormatError) {
        let result = text.withUnsafeBytes { buffer in
            Result { () throws(TraceFormatError) in try PageHeaderFormat(parsing: buffer) }
        }
        self = try result.get()
    }
}

// MARK: - Event formats

/// One event's record layout, from `events/<system>/<event>/format`.
public struct EventFormat: Sendable {
    public let name: String
    /// The event type id; records carry it in common_type.
    public let id: UInt16
    /// All fields in file order, common fields first.
    public let fields: [FieldFormat]
    /// The text after `print fmt:`, kept for display; not interpreted.
    public let printFormat: String
    /// Built once so lookups by name cost a hash, not a scan.
    private let fieldIndexByName: [String: Int]

    /// Parses the text of a `format` file.
    public init(parsing text: UnsafeRawBufferPointer) throws(TraceFormatError) {
        var name: String?
        var id: UInt16?
        var fields: [FieldFormat] = []
        var printFormat = ""
        // The kernel prints the common fields, a blank line, then the
        // event's own fields; the blank line is the only separator.
        var pastCommonFields = false
        var lineNumber = 0
        try text.forEachLine { (line) throws(TraceFormatError) in
            lineNumber += 1
            let content = text.trimmed(line)
            let view = text.view(content)
            if view.starts(with: "name:") {
                name = text.string(text.trimmed(content.lowerBound + 5..<content.upperBound))
            } else if view.starts(with: "ID:") {
                let digits = text.trimmed(content.lowerBound + 3..<content.upperBound)
                guard let value = text.decimal(digits), let narrowed = UInt16(exactly: value) else {
                    throw .invalidID(line: lineNumber)
                }
                id = narrowed
            } else if view.starts(with: "field:") {
                let field = try FormatText.parseField(
                    text, content, lineNumber: lineNumber, isCommon: !pastCommonFields)
                fields.append(field)
            } else if view.starts(with: "print fmt:") {
                printFormat = text.string(text.trimmed(content.lowerBound + 10..<content.upperBound))
            } else if content.isEmpty, !fields.isEmpty {
                pastCommonFields = true
            }
        }
        guard let name else { throw .missingName }
        guard let id else { throw .missingID }
        self.name = name
        self.id = id
        self.fields = fields
        self.printFormat = printFormat
        var indexByName: [String: Int] = [:]
        for (index, field) in fields.enumerated() where indexByName[field.name] == nil {
            indexByName[field.name] = index
        }
        self.fieldIndexByName = indexByName
    }

    public init(parsing text: [UInt8]) throws(TraceFormatError) {
        let result = text.withUnsafeBytes { buffer in
            Result { () throws(TraceFormatError) in try EventFormat(parsing: buffer) }
        }
        self = try result.get()
    }

    /// Index into `fields` of the field called `name`, or nil.
    public func fieldIndex(named name: String) -> Int? {
        fieldIndexByName[name]
    }

    public func field(named name: String) -> FieldFormat? {
        fieldIndexByName[name].map { fields[$0] }
    }

    /// The decode-time layout of the field called `name`, or nil. Resolve
    /// once, then read every record with the returned value.
    public func layout(of name: String) -> FieldLayout? {
        fieldIndexByName[name].map { fields[$0].layout }
    }
}

// MARK: - Reading field values from a record

extension FieldLayout {
    /// The field as a signed value: signed fields are sign-extended, unsigned
    /// ones zero-extended (so a u64 above Int64.max comes back negative; use
    /// `unsignedInteger(in:)` for those).
    public func integer(in record: UnsafeRawBufferPointer) throws(TraceRecordError) -> Int64 {
        let (zeroExtended, signExtended) = try loadInteger(record)
        return isSigned ? signExtended : Int64(bitPattern: zeroExtended)
    }

    /// The field as an unsigned value: unsigned fields zero-extended, signed
    /// ones sign-extended and returned as their two's-complement bit pattern.
    public func unsignedInteger(in record: UnsafeRawBufferPointer) throws(TraceRecordError) -> UInt64 {
        let (zeroExtended, signExtended) = try loadInteger(record)
        return isSigned ? UInt64(bitPattern: signExtended) : zeroExtended
    }

    /// The text of a char array or __data_loc/__rel_loc field, up to (not
    /// including) the first NUL. The view points into `record`.
    public func string(in record: UnsafeRawBufferPointer) throws(TraceRecordError) -> UnsafeRawBufferPointer {
        switch kind {
        case .charArray, .dataLoc, .relLoc:
            let range = try byteRange(record)
            return record.view(record.rangeBeforeNul(range))
        default:
            throw .notAString
        }
    }

    /// The field's raw bytes: the inline bytes for fixed fields, or the
    /// dynamic data a __data_loc/__rel_loc word points at (whole length, NULs
    /// included). The view points into `record`.
    public func bytes(in record: UnsafeRawBufferPointer) throws(TraceRecordError) -> UnsafeRawBufferPointer {
        record.view(try byteRange(record))
    }

    private func byteRange(_ record: UnsafeRawBufferPointer) throws(TraceRecordError) -> Range<Int> {
        switch kind {
        case .dataLoc, .relLoc:
            try checkBounds(offset: offset, length: 4, record)
            let word = ByteReader(record, order: .host).field(UInt32.self, at: offset)
            let location = Int(word & 0xFFFF)
            let length = Int(word >> 16)
            // __rel_loc counts from the end of its own u32 (libtraceevent adds
            // field offset + size; the kernel adds offsetof + sizeof).
            let start = kind == .relLoc ? offset + 4 + location : location
            try checkBounds(offset: start, length: length, record)
            return start..<start + length
        default:
            try checkBounds(offset: offset, length: size, record)
            return offset..<offset + size
        }
    }

    private func loadInteger(
        _ record: UnsafeRawBufferPointer
    ) throws(TraceRecordError) -> (zeroExtended: UInt64, signExtended: Int64) {
        guard kind == .integer || kind == .pointer else { throw .notAnInteger }
        try checkBounds(offset: offset, length: size, record)
        // Trace records hold the writing kernel's byte order (see FtracePage).
        let words = ByteReader(record, order: .host)
        switch size {
        case 1:
            let raw = words.field(UInt8.self, at: offset)
            return (UInt64(raw), Int64(Int8(bitPattern: raw)))
        case 2:
            let raw = words.field(UInt16.self, at: offset)
            return (UInt64(raw), Int64(Int16(bitPattern: raw)))
        case 4:
            let raw = words.field(UInt32.self, at: offset)
            return (UInt64(raw), Int64(Int32(bitPattern: raw)))
        case 8:
            let raw = words.field(UInt64.self, at: offset)
            return (raw, Int64(bitPattern: raw))
        default:
            throw .notAnInteger
        }
    }

    private func checkBounds(
        offset: Int, length: Int, _ record: UnsafeRawBufferPointer
    ) throws(TraceRecordError) {
        // Written so no addition can overflow whatever a public init was given.
        guard offset >= 0, length >= 0, offset <= record.count, length <= record.count - offset else {
            throw .outOfBounds(offset: offset, length: length, recordSize: record.count)
        }
    }
}

extension FieldFormat {
    public func integer(in record: UnsafeRawBufferPointer) throws(TraceRecordError) -> Int64 {
        try layout.integer(in: record)
    }

    public func unsignedInteger(in record: UnsafeRawBufferPointer) throws(TraceRecordError) -> UInt64 {
        try layout.unsignedInteger(in: record)
    }

    public func string(in record: UnsafeRawBufferPointer) throws(TraceRecordError) -> UnsafeRawBufferPointer {
        try layout.string(in: record)
    }

    public func bytes(in record: UnsafeRawBufferPointer) throws(TraceRecordError) -> UnsafeRawBufferPointer {
        try layout.bytes(in: record)
    }
}

// MARK: - Field line parsing (shared by header_page and event formats)

enum FormatText {
    /// Offsets and sizes above this are not something the kernel prints; we
    /// reject them so later offset + size sums cannot overflow.
    static let largestValue: UInt64 = UInt64(Int32.max)

    /// Parses one trimmed `field:...;offset:N;size:N;signed:N;` line.
    static func parseField(
        _ text: UnsafeRawBufferPointer, _ line: Range<Int>, lineNumber: Int, isCommon: Bool
    ) throws(TraceFormatError) -> FieldFormat {
        var declaration: Range<Int>?
        var offset: Int?
        var size: Int?
        var isSigned = false  // very old kernels omit `signed:`

        var segmentStart = line.lowerBound
        while segmentStart < line.upperBound {
            let segmentEnd = text.firstIndex(of: ASCII.semicolon, in: segmentStart..<line.upperBound)
                ?? line.upperBound
            let segment = text.trimmed(segmentStart..<segmentEnd)
            let view = text.view(segment)
            if view.starts(with: "field:") {
                declaration = segment.lowerBound + 6..<segment.upperBound
            } else if view.starts(with: "offset:") {
                offset = try number(text, segment.lowerBound + 7..<segment.upperBound, lineNumber)
            } else if view.starts(with: "size:") {
                size = try number(text, segment.lowerBound + 5..<segment.upperBound, lineNumber)
            } else if view.starts(with: "signed:") {
                isSigned = try number(text, segment.lowerBound + 7..<segment.upperBound, lineNumber) != 0
            }
            segmentStart = segmentEnd + 1
        }
        guard let declaration, let offset, let size else { throw .malformedField(line: lineNumber) }

        // "TYPE NAME" or "TYPE NAME[N]"; TYPE may contain spaces, '*' and "[]".
        var base = text.trimmed(declaration)
        var arrayCountText: Range<Int>?
        if let last = base.last, text[last] == ASCII.closeBracket {
            var open = last
            while open > base.lowerBound, text[open] != ASCII.openBracket { open -= 1 }
            guard text[open] == ASCII.openBracket else { throw .malformedField(line: lineNumber) }
            arrayCountText = text.trimmed(open + 1..<last)
            base = text.trimmed(base.lowerBound..<open)
        }
        var nameStart = base.upperBound
        while nameStart > base.lowerBound, ASCII.isIdentifier(text[nameStart - 1]) { nameStart -= 1 }
        let nameRange = nameStart..<base.upperBound
        let typeRange = text.trimmed(base.lowerBound..<nameStart)
        guard !nameRange.isEmpty, !typeRange.isEmpty else { throw .malformedField(line: lineNumber) }

        let kind = classify(
            type: text.view(typeRange),
            arrayCount: arrayCountText.map { text.decimal($0).flatMap { Int(exactly: $0) } },
            size: size)
        return FieldFormat(
            name: text.string(nameRange),
            type: text.string(typeRange),
            layout: FieldLayout(offset: offset, size: size, isSigned: isSigned, kind: kind),
            isCommon: isCommon)
    }

    /// `arrayCount` is nil for a non-array, `.some(nil)` for `[]` or a
    /// non-numeric bound, `.some(n)` for `[n]`.
    static func classify(type: UnsafeRawBufferPointer, arrayCount: Int??, size: Int) -> FieldKind {
        if type.starts(with: "__data_loc") { return size == 4 ? .dataLoc : .other }
        if type.starts(with: "__rel_loc") { return size == 4 ? .relLoc : .other }
        if let arrayCount {
            return type.equals("char") ? .charArray(count: size) : .array(elementCount: arrayCount)
        }
        let isScalarSize = size == 1 || size == 2 || size == 4 || size == 8
        if let last = type.last, last == ASCII.asterisk {
            return isScalarSize ? .pointer : .other
        }
        return isScalarSize ? .integer : .other
    }

    private static func number(
        _ text: UnsafeRawBufferPointer, _ range: Range<Int>, _ lineNumber: Int
    ) throws(TraceFormatError) -> Int {
        guard let value = text.decimal(text.trimmed(range)), value <= largestValue else {
            throw .malformedField(line: lineNumber)
        }
        return Int(value)
    }
}
