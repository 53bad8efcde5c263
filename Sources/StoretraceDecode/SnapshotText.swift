// Parsers for the procfs and sysfs text a node snapshot is made of. Pure, so
// the formats are tested on fixtures and the kernel layer only reads files.
// Each returns nil (or leaves a part out) for text it does not understand:
// a snapshot degrades, it never fails.

public enum SnapshotText {
    /// One line of /proc/PID/mountinfo (see proc(5)):
    ///
    ///     36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    ///
    /// nil for a line that does not have the fixed fields.
    public static func mount(mountinfoLine line: Substring) -> NodeSnapshot.Mount? {
        var parser = MountinfoParser()
        var line = String(line)
        return line.withUTF8 { parser.mount(UnsafeRawBufferPointer($0)) }
    }

    /// Undoes the kernel's `mangle()`/`seq_escape()`: a backslash and three
    /// octal digits stand for that byte ("\040" is a space). Anything else
    /// is kept as is. Bytes that are not UTF-8 become U+FFFD.
    public static func unescapeOctal(_ text: Substring) -> String {
        var text = text
        return text.withUTF8 { unescapeOctal(UnsafeRawBufferPointer($0)) }
    }

    /// The same, on bytes.
    public static func unescapeOctal(_ bytes: UnsafeRawBufferPointer) -> String {
        guard bytes.firstIndex(of: ASCII.backslash, in: 0..<bytes.count) != nil else { return bytes.string(0..<bytes.count) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == ASCII.backslash, index + 3 < bytes.count,
               let value = octalByte(bytes[index + 1], bytes[index + 2], bytes[index + 3]) {
                out.append(value)
                index += 4
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func octalByte(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8? {
        func digit(_ byte: UInt8) -> UInt16? { byte >= 0x30 && byte <= 0x37 ? UInt16(byte - 0x30) : nil }
        guard let high = digit(a), let middle = digit(b), let low = digit(c) else { return nil }
        let value = high << 6 | middle << 3 | low
        return value <= 0xFF ? UInt8(value) : nil
    }

    /// "254:0" → (254, 0), the whole range.
    public static func deviceNumber(_ bytes: UnsafeRawBufferPointer) -> (major: UInt32, minor: UInt32)? {
        guard let colon = bytes.firstIndex(of: ASCII.colon, in: 0..<bytes.count),
              let major = bytes.decimal(0..<colon).flatMap({ UInt32(exactly: $0) }),
              let minor = bytes.decimal(colon + 1..<bytes.count).flatMap({ UInt32(exactly: $0) })
        else { return nil }
        return (major, minor)
    }

    /// "254:0" → (254, 0).
    public static func deviceNumber(_ text: Substring) -> (major: UInt32, minor: UInt32)? {
        let trimmed = text.snapshotTrimmed
        guard let colon = trimmed.firstIndex(of: ":"),
              let major = UInt32(trimmed[..<colon]),
              let minor = UInt32(trimmed[trimmed.index(after: colon)...])
        else { return nil }
        return (major, minor)
    }

    /// The fields of /proc/PID/status the snapshot keeps.
    public struct ProcessStatus: Equatable, Sendable {
        public var name: String?
        public var ppid: Int32?
        public var uid: UInt32?
        /// `Kthread:` (Linux 6.3+): a kernel thread such as kthreadd, which
        /// must not stand for a mount namespace. nil on older kernels.
        public var kernelThread: Bool?
    }

    /// Parses /proc/PID/status. The kernel escapes "\n" and "\\" in Name
    /// (so a name cannot fake another line); they are undone here. Works on
    /// bytes in place: it runs once per process on the node.
    public static func processStatus(_ bytes: UnsafeRawBufferPointer) -> ProcessStatus {
        var status = ProcessStatus()
        var lineStart = 0
        // Kthread comes after Uid; on kernels without it the whole file is read.
        while lineStart < bytes.count,
              status.name == nil || status.ppid == nil || status.uid == nil || status.kernelThread == nil {
            let lineEnd = bytes.firstIndex(of: ASCII.newline, in: lineStart..<bytes.count) ?? bytes.count
            let line = bytes.view(lineStart..<lineEnd)
            if line.starts(with: "Name:") {
                var valueStart = 5
                while valueStart < line.count, line[valueStart] == ASCII.tab || line[valueStart] == ASCII.space { valueStart += 1 }
                status.name = unescapeTaskName(line.view(valueStart..<line.count))
            } else if line.starts(with: "PPid:") {
                status.ppid = line.decimal(line.trimmed(5..<line.count)).flatMap { Int32(exactly: $0) }
            } else if line.starts(with: "Uid:") {
                // Real, effective, saved, filesystem: the real one is the owner.
                let values = line.trimmed(4..<line.count)
                let realEnd = line.firstIndex(of: ASCII.tab, in: values) ?? values.upperBound
                status.uid = line.decimal(values.lowerBound..<realEnd).flatMap { UInt32(exactly: $0) }
            } else if line.starts(with: "Kthread:") {
                status.kernelThread = line.decimal(line.trimmed(8..<line.count)).map { $0 != 0 }
            }
            lineStart = lineEnd + 1
        }
        return status
    }

    public static func processStatus(_ text: String) -> ProcessStatus {
        var text = text
        return text.withUTF8 { processStatus(UnsafeRawBufferPointer($0)) }
    }

    static func unescapeTaskName(_ bytes: UnsafeRawBufferPointer) -> String {
        guard bytes.firstIndex(of: ASCII.backslash, in: 0..<bytes.count) != nil else { return bytes.string(0..<bytes.count) }
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == ASCII.backslash, index + 1 < bytes.count {
                switch bytes[index + 1] {
                case UInt8(ascii: "n"):
                    out.append(ASCII.newline)
                    index += 2
                    continue
                case ASCII.backslash:
                    out.append(ASCII.backslash)
                    index += 2
                    continue
                default:
                    break
                }
            }
            out.append(bytes[index])
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// /proc/PID/cgroup: the v2 path (the "0::" line) and, on a v1 or
    /// hybrid node, every other line as written.
    public static func cgroups(_ bytes: UnsafeRawBufferPointer) -> (v2: String?, v1: [String]?) {
        var v2: String?
        var v1: [String] = []
        bytes.forEachLine { range in
            guard !range.isEmpty else { return }
            let line = bytes.view(range)
            if line.starts(with: "0::") {
                v2 = line.string(3..<line.count)
            } else {
                v1.append(line.string(0..<line.count))
            }
        }
        return (v2, v1.isEmpty ? nil : v1)
    }

    public static func cgroups(_ text: String) -> (v2: String?, v1: [String]?) {
        var text = text
        return text.withUTF8 { cgroups(UnsafeRawBufferPointer($0)) }
    }

    /// "mnt:[4026531832]" (the target of /proc/PID/ns/mnt) → 4026531832.
    public static func namespaceInode(link: Substring) -> UInt64? {
        var link = link
        return link.withUTF8 { namespaceInode(link: UnsafeRawBufferPointer($0)) }
    }

    /// The same, on bytes.
    public static func namespaceInode(link: UnsafeRawBufferPointer) -> UInt64? {
        guard let open = link.firstIndex(of: UInt8(ascii: "["), in: 0..<link.count), link.last == UInt8(ascii: "]")
        else { return nil }
        return link.decimal(open + 1..<link.count - 1)
    }

    /// The active scheduler in queue/scheduler: "none [mq-deadline] kyber"
    /// → "mq-deadline". A queue without a choice shows only "none".
    public static func activeScheduler(_ text: Substring) -> String? {
        if let open = text.firstIndex(of: "["),
           let close = text[open...].firstIndex(of: "]") {
            return String(text[text.index(after: open)..<close])
        }
        let trimmed = text.snapshotTrimmed
        return trimmed.isEmpty || trimmed.contains(" ") ? nil : String(trimmed)
    }

    /// The number of CPUs in a list such as "0-3,8,10-11"; nil when malformed.
    public static func cpuCount(list: Substring) -> Int? {
        CPUList.parse(list)?.count
    }

    /// The last path component shaped like a PCI address (DDDD:BB:DD.F,
    /// hex) in a resolved sysfs path such as
    /// "/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda"; the last
    /// one because a device behind a bridge lies under the bridge's address.
    public static func pciAddress(inDevicePath path: Substring) -> String? {
        path.split(separator: "/").last(where: isPCIAddress).map(String.init)
    }

    public static func isPCIAddress(_ text: Substring) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 12, bytes[4] == ASCII.colon, bytes[7] == ASCII.colon, bytes[10] == UInt8(ascii: ".")
        else { return false }
        for index in [0, 1, 2, 3, 5, 6, 8, 9] where ASCII.hexValue(bytes[index]) == nil {
            return false
        }
        return bytes[11] >= UInt8(ascii: "0") && bytes[11] <= UInt8(ascii: "7")
    }
}

extension Substring {
    var snapshotTrimmed: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" || first == "\n" || first == "\r" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\n" || last == "\r" { text.removeLast() }
        return text
    }
}
