import StoretraceFixtures
import Testing
@testable import StoretraceDecode
@testable import StoretraceRender

/// Hostile bytes in every text that reaches a terminal: the one escaper
/// (`appendPrintable`) writes them as \xNN, JSON as \u escapes.
///
/// The bytes: ESC "[31m" (a CSI sequence by 7-bit controls), C2 9B (U+009B,
/// CSI as one C1 control, valid UTF-8), 9B alone (an 8-bit CSI, not UTF-8),
/// 07 (BEL), 7F (DEL), and a backslash (so a name cannot fake an escape).
let hostile: [UInt8] = [0x61, 0x1B] + Array("[31m".utf8) + [0xC2, 0x9B, 0x78, 0x9B, 0x07, 0x7F, 0x5C]
/// `hostile` as the terminal escaper writes it.
let hostileEscaped = #"a\x1b[31m\xc2\x9bx\x9b\x07\x7f\x5c"#
/// `hostile` as a JSON string: U+009B as \u009b, the lone 9B as U+FFFD.
let hostileJSON = #""a\u001b[31m\u009bx\#u{FFFD}\u0007\u007f\\""#

@Suite struct EscapingTests {
    func printable(_ bytes: [UInt8], spelling: EscapeSpelling = .hex, escapingSpaces: Bool = false) -> String {
        var out = OutputBuffer()
        bytes.withUnsafeBytes { out.appendPrintable($0, spelling: spelling, escapingSpaces: escapingSpaces) }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    func jsonString(_ bytes: [UInt8]) -> String {
        var out = OutputBuffer()
        bytes.withUnsafeBytes { out.appendJSONString($0) }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func controlsAndBrokenUTF8AreEscapedUTF8TextIsNot() {
        #expect(printable(hostile) == hostileEscaped)
        // Every C1 control (U+0080–U+009F), and nothing just above it.
        for second in UInt8(0x80)...0x9F {
            #expect(printable([0xC2, second]) == "\\xc2\\x" + String(second, radix: 16))
        }
        #expect(printable([0xC2, 0xA0]) == "\u{A0}")
        #expect(printable(Array("café ü 日本 /var/lib".utf8)) == "café ü 日本 /var/lib")
        // A truncated sequence and an overlong encoding are not UTF-8.
        #expect(printable([0x41, 0xE2, 0x82]) == #"A\xe2\x82"#)
        #expect(printable([0xC0, 0xAF]) == #"\xc0\xaf"#)
        #expect(printable(Array("a b".utf8), spelling: .octal, escapingSpaces: true) == #"a\040b"#)
    }

    @Test func jsonEscapesC1Controls() {
        #expect(jsonString(hostile) == hostileJSON)
        #expect(jsonString([0xC2, 0x80, 0xC2, 0x9F, 0xC2, 0xA0]) == #""\u0080\u009f\#u{A0}""#)
    }

    @Test func commOfASyscallLine() throws {
        var builder = RecordBuilder.mount(["a", "b", nil, nil], flags: 0)
        builder.commBytes = Array(hostile.prefix(15))
        let line = try text(builder)
        #expect(line.contains("  " + hostileEscaped + "[4120] "), "\(line)")
        #expect(try json(builder).contains(#""comm":"# + hostileJSON + ","))
    }

    /// copy_file_range(3<name>, ...): a descriptor's file name, unquoted.
    @Test func fileNameOfADescriptor() throws {
        var builder = RecordBuilder()
        builder.kind = SyscallKind.copyFileRange.rawValue
        builder.args = [3, 0, 4, 0, 4096, 0]
        builder.strings = ["", ""]
        builder.stringBytes = [0: hostile, 1: Array("b.bin".utf8)]
        let line = try text(builder)
        #expect(line.contains("copy_file_range(3<" + hostileEscaped + ">, NULL, 4<b.bin>, NULL, 4096, 0)"), "\(line)")
    }

    /// A path argument is quoted strace-style: every byte outside printable
    /// ASCII as \xNN.
    @Test func pathArgument() throws {
        var builder = RecordBuilder.mount(["", "/ok", nil, nil], flags: 0)
        builder.stringBytes = [0: hostile]
        #expect(try text(builder).contains(#"mount("a\x1b[31m\xc2\x9bx\x9b\x07\x7f\\", "/ok", NULL, 0, NULL)"#))
    }

    /// A uevent message as a text line and a JSON line.
    func renderUevent(_ message: [UInt8]) throws -> (text: String, json: String) {
        var out = OutputBuffer()
        var jsonOut = OutputBuffer()
        try message.withUnsafeBytes { bytes in
            let parsed = try UeventMessage(parsing: bytes)
            TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock).renderUevent(parsed, monotonic: 1_000_000_000, into: &out)
            JSONRenderer(clock: clock).renderUevent(parsed, monotonic: 1_000_000_000, into: &jsonOut)
        }
        return (String(decoding: out.bytes, as: UTF8.self), String(decoding: jsonOut.bytes, as: UTF8.self))
    }

    /// A uevent whose DEVNAME and DRIVER hold the hostile bytes.
    @Test func ueventFields() throws {
        let message: [UInt8] = Array("bind@/devices/x\0ACTION=bind\0DEVPATH=/devices/x\0SUBSYSTEM=pci\0DEVNAME=".utf8)
            + hostile + Array("\0DRIVER=".utf8) + hostile + Array("\0SEQNUM=7\0".utf8)
        let (line, json) = try renderUevent(message)
        #expect(line.hasSuffix("bind pci " + hostileEscaped + " driver=" + hostileEscaped + " seq=7\n"), "\(line)")
        #expect(json.contains(#""devname":"# + hostileJSON + #","devtype":null,"driver":"# + hostileJSON))
    }

    /// A loop device's backing file is a user's path: escaped like any name.
    @Test func ueventLoopBackingFile() throws {
        let message: [UInt8] = Array("change@/devices/virtual/block/loop3\0ACTION=change\0DEVPATH=/devices/virtual/block/loop3\0SUBSYSTEM=block\0DEVNAME=loop3\0DEVTYPE=disk\0SEQNUM=9\0STORETRACE_LOOP_BACKING_FILE=/tmp/".utf8)
            + hostile + Array("\0STORETRACE_LOOP_OFFSET=512\0".utf8)
        let (line, json) = try renderUevent(message)
        #expect(line.hasSuffix("change block loop3 seq=9 backing=/tmp/" + hostileEscaped + " offset=512\n"), "\(line)")
        #expect(json.contains(#""seqnum":9,"loop":{"backing_file":"/tmp/"# + hostileJSON.dropFirst() + #","offset":512},"properties":{"#))
    }

    /// A disk under a PCI function, with the function's driver.
    @Test func ueventPCIParent() throws {
        let message: [UInt8] = Array("add@/devices/pci0000:00/0000:3b:00.0/nvme/nvme0/nvme0n1\0ACTION=add\0DEVPATH=/devices/pci0000:00/0000:3b:00.0/nvme/nvme0/nvme0n1\0SUBSYSTEM=block\0DEVNAME=nvme0n1\0MAJOR=259\0MINOR=0\0SEQNUM=4242\0STORETRACE_PCI_PARENT=0000:3b:00.0\0STORETRACE_PCI_DRIVER=nvme\0".utf8)
        let (line, json) = try renderUevent(message)
        #expect(line.hasSuffix("add block nvme0n1 dev=259:0 seq=4242 on pci 0000:3b:00.0 (nvme)\n"))
        #expect(json.contains(#""seqnum":4242,"pci_parent":{"slot":"0000:3b:00.0","driver":"nvme"},"properties":{"#))
    }

    /// /dev/kmsg writes these bytes escaped; a capture may hold them raw.
    /// Both come out the same, and valid UTF-8 the kernel escaped shows as text.
    @Test func kmsgText() throws {
        func render(_ record: [UInt8]) throws -> String {
            var out = OutputBuffer()
            try record.withUnsafeBytes { bytes in
                let parsed = try KmsgRecord(parsing: bytes)
                TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock).renderKmsg(parsed, monotonic: 1_000_000_000, into: &out)
            }
            let line = String(decoding: out.bytes, as: UTF8.self)
            return String(line[line.range(of: "<6>info ")!.upperBound...])
        }
        // As the kernel writes it: every byte outside printable ASCII as \xNN.
        let kernel = Array(#"6,1,2,-;caf\xc3\xa9 a\x1b[31m\xc2\x9bx\x9b\x07\x7f\x5c"#.utf8) + [0x0A]
        #expect(try render(kernel) == "café " + hostileEscaped + "\n")
        // Raw, as a crafted capture could hold it.
        let raw = Array("6,1,2,-;".utf8) + hostile + [0x0A]
        #expect(try render(raw) == hostileEscaped + "\n")
    }

    @Test func snapshotFields() {
        let text = String(decoding: hostile.prefix(8), as: UTF8.self) // up to U+009B: a String holds no raw 9B
        #expect(SnapshotRenderer.printable(text) == #"a\033[31m\302\233"#)
        #expect(escapedForTerminal(text + "\u{7}") == #"a\x1b[31m\xc2\x9b\x07"#)
    }
}
