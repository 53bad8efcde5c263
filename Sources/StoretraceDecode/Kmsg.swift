// Parser for one record read from /dev/kmsg
// (Documentation/ABI/testing/dev-kmsg). Every read() returns one record:
//
//   PRIORITY,SEQUENCE,TIMESTAMP_US,FLAG[,more fields];MESSAGE\n
//    KEY=VALUE\n            <- optional continuation lines, each starting with ' '
//
// PRIORITY packs the syslog level in its low 3 bits and the facility in the
// next 8. Fields after FLAG are future extensions (e.g. caller=T123 with
// CONFIG_PRINTK_CALLER) and are ignored, as the ABI document asks. The
// message and the values keep the kernel's escaping: non-printable bytes and
// '\' itself appear as "\xNN"; `KmsgRecord.unescape` undoes it into a buffer
// the caller provides. Parsing keeps views into the record and allocates nothing.

public enum KmsgLevel: UInt8, CaseIterable, Equatable, Sendable {
    case emergency = 0, alert, critical, error, warning, notice, info, debug

    /// The kernel's short name, as dmesg --level takes it.
    public var name: String {
        switch self {
        case .emergency: "emerg"
        case .alert: "alert"
        case .critical: "crit"
        case .error: "err"
        case .warning: "warning"
        case .notice: "notice"
        case .info: "info"
        case .debug: "debug"
        }
    }
}

public enum KmsgParseError: Error, Equatable, Sendable {
    /// No ';' ends the prefix, or the prefix has fewer than four fields.
    case malformedPrefix
    /// The priority is not a decimal number below 2048 (3 level + 8 facility bits).
    case invalidPriority
    case invalidSequence
    case invalidTimestamp
    /// The flag field is empty.
    case missingFlag
    /// The message text is not ended by '\n'.
    case unterminatedMessage
    /// A line after the message that does not start with ' ', has no '=' or
    /// an empty key, or is not ended by '\n'. `offset` is where it starts.
    case malformedContinuationLine(offset: Int)
}

/// The fields before the ';' of a kmsg record: what a reader needs to place
/// the record in time and notice lost ones, without parsing the message
/// (the pipeline parses it, once, when it decodes the event).
public struct KmsgPrefix: Equatable, Sendable {
    public let priority: UInt64
    public let sequence: UInt64
    public let timestampMicroseconds: UInt64
    public let flag: UInt8
    /// Offset of the message text, just after the ';'.
    public let messageStart: Int

    public init(parsing bytes: UnsafeRawBufferPointer) throws(KmsgParseError) {
        guard let semicolon = bytes.firstIndex(of: ASCII.semicolon, in: 0..<bytes.count) else {
            throw .malformedPrefix
        }
        // PRIORITY,SEQUENCE,TIMESTAMP,FLAG must all be there; anything after FLAG is ignored.
        var rest: Range<Int>? = 0..<semicolon
        guard let priorityField = KmsgRecord.nextField(bytes, &rest),
              let sequenceField = KmsgRecord.nextField(bytes, &rest),
              let timestampField = KmsgRecord.nextField(bytes, &rest),
              let flagField = KmsgRecord.nextField(bytes, &rest)
        else { throw .malformedPrefix }
        guard let priority = bytes.decimal(priorityField), priority < 2048 else { throw .invalidPriority }
        guard let sequence = bytes.decimal(sequenceField) else { throw .invalidSequence }
        guard let timestamp = bytes.decimal(timestampField) else { throw .invalidTimestamp }
        guard !flagField.isEmpty else { throw .missingFlag }

        self.priority = priority
        self.sequence = sequence
        self.timestampMicroseconds = timestamp
        self.flag = bytes[flagField.lowerBound]
        self.messageStart = semicolon + 1
    }
}

public struct KmsgRecord {
    /// The whole record as read.
    public let bytes: UnsafeRawBufferPointer
    public let level: KmsgLevel
    /// Syslog facility number: 0 (kern) for kernel messages, 1 (user) and up
    /// for lines written to /dev/kmsg from user space.
    public let facility: UInt8
    /// 64-bit record sequence number; gaps mean the reader lost records.
    public let sequence: UInt64
    /// Microseconds since boot on the printk clock (local_clock, monotonic-ish).
    public let timestampMicroseconds: UInt64
    /// The flag character: '-' normally, 'c' for a line fragment that may be
    /// continued by the next record.
    public let flag: UInt8
    /// The message text, still escaped, without the trailing '\n'.
    public let message: UnsafeRawBufferPointer
    /// SUBSYSTEM= from the continuation lines, still escaped.
    public let subsystem: UnsafeRawBufferPointer?
    /// DEVICE= from the continuation lines (b8:0, c4:1, n2, +pci:0000:00:1f.2).
    public let device: UnsafeRawBufferPointer?

    /// Offset of the first continuation line (the end of the record if none).
    private let continuationStart: Int

    public var isFragment: Bool { flag == 0x63 }  // 'c'

    public init(parsing bytes: UnsafeRawBufferPointer) throws(KmsgParseError) {
        let prefix = try KmsgPrefix(parsing: bytes)
        let messageStart = prefix.messageStart
        guard let messageEnd = bytes.firstIndex(of: ASCII.newline, in: messageStart..<bytes.count) else {
            throw .unterminatedMessage
        }

        var subsystem: UnsafeRawBufferPointer?
        var device: UnsafeRawBufferPointer?
        let continuationStart = messageEnd + 1
        try Self.forEachContinuation(in: bytes, from: continuationStart) { (key, value) throws(KmsgParseError) in
            if subsystem == nil, key.equals("SUBSYSTEM") { subsystem = value }
            if device == nil, key.equals("DEVICE") { device = value }
        }

        self.bytes = bytes
        // priority < 2048, so both conversions are exact.
        self.level = KmsgLevel(rawValue: UInt8(prefix.priority & 7)) ?? .debug
        self.facility = UInt8(prefix.priority >> 3)
        self.sequence = prefix.sequence
        self.timestampMicroseconds = prefix.timestampMicroseconds
        self.flag = prefix.flag
        self.message = bytes.view(messageStart..<messageEnd)
        self.subsystem = subsystem
        self.device = device
        self.continuationStart = continuationStart
    }

    /// Calls `body(key, value)` for every continuation line, in order.
    /// Values are still escaped.
    public func forEachProperty<E: Error>(
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(E) {
        // Validated in init; walk again without re-checking.
        var lineStart = continuationStart
        while lineStart < bytes.count {
            let lineEnd = bytes.firstIndex(of: ASCII.newline, in: lineStart..<bytes.count) ?? bytes.count
            if let equals = bytes.firstIndex(of: ASCII.equals, in: lineStart..<lineEnd) {
                try body(bytes.view(lineStart + 1..<equals), bytes.view(equals + 1..<lineEnd))
            }
            lineStart = lineEnd + 1
        }
    }

    /// Undoes the kernel's "\xNN" escaping of `escaped` into `output`.
    /// Returns the number of bytes written, or nil if `output` is too small;
    /// an output as large as the input always suffices. A backslash not
    /// followed by 'x' and two hex digits is copied as is.
    public static func unescape(
        _ escaped: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) -> Int? {
        var read = 0
        var written = 0
        while read < escaped.count {
            guard written < output.count else { return nil }
            var byte = escaped[read]
            var consumed = 1
            if byte == ASCII.backslash, read + 3 < escaped.count, escaped[read + 1] == ASCII.lowercaseX,
               let high = ASCII.hexValue(escaped[read + 2]), let low = ASCII.hexValue(escaped[read + 3]) {
                byte = high << 4 | low
                consumed = 4
            }
            output[written] = byte
            written += 1
            read += consumed
        }
        return written
    }

    /// Splits the next comma-separated field off `rest`; nil once `rest` is used up.
    fileprivate static func nextField(_ bytes: UnsafeRawBufferPointer, _ rest: inout Range<Int>?) -> Range<Int>? {
        guard let remaining = rest else { return nil }
        if let comma = bytes.firstIndex(of: ASCII.comma, in: remaining) {
            rest = comma + 1..<remaining.upperBound
            return remaining.lowerBound..<comma
        }
        rest = nil
        return remaining
    }

    /// Walks " KEY=VALUE\n" lines from `start` to the end of the record.
    private static func forEachContinuation(
        in bytes: UnsafeRawBufferPointer, from start: Int,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(KmsgParseError) -> Void
    ) throws(KmsgParseError) {
        var lineStart = start
        while lineStart < bytes.count {
            guard bytes[lineStart] == ASCII.space,
                  let lineEnd = bytes.firstIndex(of: ASCII.newline, in: lineStart..<bytes.count),
                  let equals = bytes.firstIndex(of: ASCII.equals, in: lineStart..<lineEnd),
                  equals > lineStart + 1
            else { throw .malformedContinuationLine(offset: lineStart) }
            try body(bytes.view(lineStart + 1..<equals), bytes.view(equals + 1..<lineEnd))
            lineStart = lineEnd + 1
        }
    }
}
