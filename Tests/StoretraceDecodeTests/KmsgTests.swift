import Testing
import StoretraceDecode

/// The parsed record copied out of the buffer.
struct KmsgSnapshot: Equatable {
    var level: KmsgLevel
    var facility: UInt8
    var sequence: UInt64
    var timestampMicroseconds: UInt64
    var flag: Character
    var isFragment: Bool
    var message: String?
    var subsystem: String?
    var device: String?
    var properties: [String]

    init(_ record: KmsgRecord) {
        level = record.level
        facility = record.facility
        sequence = record.sequence
        timestampMicroseconds = record.timestampMicroseconds
        flag = Character(Unicode.Scalar(record.flag))
        isFragment = record.isFragment
        message = text(record.message)
        subsystem = text(record.subsystem)
        device = text(record.device)
        var properties: [String] = []
        record.forEachProperty { key, value in properties.append("\(text(key)!)=\(text(value)!)") }
        self.properties = properties
    }
}

func parseKmsg(_ record: String) throws(KmsgParseError) -> KmsgSnapshot {
    let bytes = ascii(record)
    let result = bytes.withUnsafeBytes { buffer in
        Result { () throws(KmsgParseError) in KmsgSnapshot(try KmsgRecord(parsing: buffer)) }
    }
    return try result.get()
}

@Suite struct KmsgTests {
    @Test func plainRecord() throws {
        // Real first record from this machine's /dev/kmsg, shortened.
        let record = try parseKmsg("5,0,0,-;Linux version 6.18.44-fc-v595 (builder@sandboxing)\n")
        #expect(record.level == .notice)
        #expect(record.level.name == "notice")
        #expect(record.facility == 0)
        #expect(record.sequence == 0)
        #expect(record.timestampMicroseconds == 0)
        #expect(record.flag == "-")
        #expect(record.isFragment == false)
        #expect(record.message == "Linux version 6.18.44-fc-v595 (builder@sandboxing)")
        #expect(record.subsystem == nil)
        #expect(record.device == nil)
        #expect(record.properties.isEmpty)
    }

    @Test func continuationLines() throws {
        // The example from Documentation/ABI/testing/dev-kmsg.
        let record = try parseKmsg("""
        7,160,424069,-;pci_root PNP0A03:00: host bridge window [io  0x0000-0x0cf7] (ignored)
         SUBSYSTEM=acpi
         DEVICE=+acpi:PNP0A03:00

        """)
        #expect(record.level == .debug)
        #expect(record.sequence == 160)
        #expect(record.timestampMicroseconds == 424_069)
        #expect(record.message == "pci_root PNP0A03:00: host bridge window [io  0x0000-0x0cf7] (ignored)")
        #expect(record.subsystem == "acpi")
        #expect(record.device == "+acpi:PNP0A03:00")
        #expect(record.properties == ["SUBSYSTEM=acpi", "DEVICE=+acpi:PNP0A03:00"])
    }

    @Test func facilityAndExtraPrefixFields() throws {
        // 30 = facility 3 (daemon) << 3 | level 6 (info): written from user space.
        let udev = try parseKmsg("30,340,5690716,-;udevd[80]: starting version 181\n")
        #expect(udev.facility == 3)
        #expect(udev.level == .info)
        // A fragment ('c') with a field after the flag (CONFIG_PRINTK_CALLER), ignored.
        let fragment = try parseKmsg("4,512,1000,c,caller=T42;partial line\n")
        #expect(fragment.level == .warning)
        #expect(fragment.flag == "c")
        #expect(fragment.isFragment)
        #expect(fragment.message == "partial line")
        // The largest priority: facility 255, level 7.
        let last = try parseKmsg("2047,1,1,-;x\n")
        #expect(last.facility == 255)
        #expect(last.level == .debug)
    }

    @Test func levelNames() {
        #expect(KmsgLevel.allCases.map(\.name)
            == ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"])
        #expect(KmsgLevel.allCases.map(\.rawValue) == [0, 1, 2, 3, 4, 5, 6, 7])
    }

    @Test func unescapesHexSequences() throws {
        // The kernel writes ESC as \x1b and '\' itself as \x5c.
        let bytes = ascii("3,9,77,-;usb 1-1: bad \\x1b[31mname\\x1b[0m in \\x5cpath\\x5c\n")
        try bytes.withUnsafeBytes { (buffer) throws in
            let record = try KmsgRecord(parsing: buffer)
            #expect(record.level == .error)
            #expect(text(record.message) == "usb 1-1: bad \\x1b[31mname\\x1b[0m in \\x5cpath\\x5c")

            var output = [UInt8](repeating: 0, count: record.message.count)
            let written = output.withUnsafeMutableBytes { KmsgRecord.unescape(record.message, into: $0) }
            #expect(written == 36)
            #expect(Array(output.prefix(written ?? 0))
                == ascii("usb 1-1: bad ") + [0x1B] + ascii("[31mname") + [0x1B] + ascii("[0m in \\path\\"))
        }
    }

    @Test func unescapeEdgeCases() {
        func unescape(_ input: String, capacity: Int) -> [UInt8]? {
            let bytes = ascii(input)
            var output = [UInt8](repeating: 0, count: capacity)
            let written = bytes.withUnsafeBytes { escaped in
                output.withUnsafeMutableBytes { KmsgRecord.unescape(escaped, into: $0) }
            }
            return written.map { Array(output.prefix($0)) }
        }
        // Not hex, cut off, or a different letter: copied as is.
        #expect(unescape("a\\xZZb", capacity: 6) == ascii("a\\xZZb"))
        #expect(unescape("end\\x4", capacity: 6) == ascii("end\\x4"))
        #expect(unescape("\\n", capacity: 2) == ascii("\\n"))
        // Upper-case hex digits work too.
        #expect(unescape("\\x7F\\x0a", capacity: 8) == [0x7F, 0x0A])
        // Too small an output buffer is reported, not overrun.
        #expect(unescape("abcdef", capacity: 3) == nil)
        #expect(unescape("", capacity: 0) == [])
    }

    @Test func malformedRecords() {
        let cases: [(String, KmsgParseError)] = [
            ("6,1,2,-no semicolon\n", .malformedPrefix),
            ("6,1,2;three fields only\n", .malformedPrefix),
            (";empty prefix\n", .malformedPrefix),
            ("x,1,2,-;bad priority\n", .invalidPriority),
            ("2048,1,2,-;facility does not fit 8 bits\n", .invalidPriority),
            ("6,99999999999999999999,2,-;sequence overflows u64\n", .invalidSequence),
            ("6,1,,-;empty timestamp\n", .invalidTimestamp),
            ("6,1,2,;empty flag\n", .missingFlag),
            ("6,1,2,-;no newline", .unterminatedMessage),
            // Offsets: the continuation starts right after the message's '\n'.
            ("6,1,2,-;m\nSUBSYSTEM=x\n", .malformedContinuationLine(offset: 10)),
            ("6,1,2,-;m\n SUBSYSTEM=x", .malformedContinuationLine(offset: 10)),
            ("6,1,2,-;m\n SUBSYSTEM=x\n NOEQUALS\n", .malformedContinuationLine(offset: 23)),
            ("6,1,2,-;m\n =x\n", .malformedContinuationLine(offset: 10)),
        ]
        for (record, expected) in cases {
            #expect(throws: expected, "\(record.debugDescription)") { try parseKmsg(record) }
        }
    }
}
