// Which block device a kernel log line or a tracepoint names: the one home
// of the patterns the kernel's storage code prints device names in, and of
// the kernel's own dev_t encoding. Pure and allocation-free: a lookup walks
// the message bytes in place (still kmsg-escaped: device names are plain
// ASCII, so the escaping never touches them).

/// A kernel-internal `dev_t` as tracepoints store it (`dev_t dev` fields of
/// block:*, ext4:*, writeback:*): major in the bits above 20, minor in the
/// low 20 (include/linux/kdev_t.h, MINORBITS). User space (stat's st_dev,
/// glibc's makedev) packs the same numbers differently, so 7340032 is
/// 7:0 here, not what `major(3)` would say of it.
public enum KernelDeviceNumber {
    public static let minorBits = 20

    @inline(__always)
    public static func decode(_ value: UInt64) -> (major: UInt32, minor: UInt32) {
        (UInt32(truncatingIfNeeded: (value >> UInt64(minorBits)) & 0xFFF),
         UInt32(truncatingIfNeeded: value & ((1 << UInt64(minorBits)) - 1)))
    }

    /// The format file's type of a field that holds one.
    public static func isDeviceNumberType(_ type: String) -> Bool { type == "dev_t" }
}

/// What a kernel log line about a device says went wrong, if anything.
public enum DeviceProblem: UInt8, CaseIterable, Sendable, Equatable {
    /// The block layer failed a request (I/O error, dev X; Buffer I/O error;
    /// a failed SCSI/NVMe command).
    case ioError = 0
    /// The filesystem on the device reported an error (EXT4-fs error,
    /// XFS/BTRFS at error level or worse).
    case filesystemError = 1

    public var name: String {
        switch self {
        case .ioError: "io_error"
        case .filesystemError: "fs_error"
        }
    }
}

/// A device named in a kernel log message.
public struct KmsgDeviceMention: Equatable, Sendable {
    /// Where the name is in the message.
    public let name: Range<Int>
    /// The pattern that matched (`KmsgDevicePatterns.table`).
    public let pattern: Int
    /// How the name relates to block devices.
    public let role: KmsgDevicePattern.NameRole
    /// What the line says went wrong; nil for a line that only mentions it.
    public let problem: DeviceProblem?

    /// The name's bytes in `message` (the text it was found in).
    public func name(in message: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer { message.view(name) }

    /// The pattern's identifier ("ext4_error").
    public var patternID: String { KmsgDevicePatterns.table[pattern].id.description }
}

/// One way the kernel prints a device name.
public struct KmsgDevicePattern: Sendable {
    public enum Shape: Sendable {
        /// `marker` (at the start of the message, or anywhere), then the
        /// name up to `)`, `:`, `,`, `]` or a space.
        case after(StaticString, atStart: Bool)
        /// `prefix` at the start, one word (a SCSI H:C:T:L address, a virtio
        /// device), then `: [NAME]`; without the bracket the word itself.
        case bracketAfterWord(StaticString)
        /// The first word when a `: ` follows it (`vda: vda1 vda2`,
        /// `nvme0n1: I/O Cmd...`, `loop0: detected capacity change`):
        /// only a block device if the device table knows the name.
        case leadingWord
    }

    public enum NameRole: Sendable, Equatable {
        /// A block device name (disk or partition).
        case blockDevice
        /// Only a block device if the table knows it (a leading word).
        case blockDeviceIfKnown
        /// An NVMe controller: its namespaces are `NAMEnN`.
        case nvmeController
        /// A bus device (virtio2) without the block device's name.
        case busDevice
    }

    public enum ProblemRule: Sendable {
        case always(DeviceProblem)
        /// When the line is at level err or more severe (XFS, BTRFS and
        /// EXT4-fs (X) lines say what they are by their level).
        case ifSevere(DeviceProblem)
        /// When the text after the name has one of the failure words
        /// ("error", "Error", "FAILED", "failed", "timeout").
        case ifFailureWords(DeviceProblem)
        case never
    }

    /// Short identifier, for tests and docs ("ext4_error", "block_io_error").
    public let id: StaticString
    public let shape: Shape
    public let role: NameRole
    public let rule: ProblemRule
}

public enum KmsgDevicePatterns {
    /// In order: the first that matches names the device. Examples are the
    /// kernel's own lines (KmsgDeviceTests holds one per pattern).
    public static let table: UnsafeBufferPointer<KmsgDevicePattern> = permanentTable([
        // EXT4-fs error (device loop0): __ext4_find_entry:1613: inode #2: comm ls: reading directory lblock 0
        // EXT4-fs error (device loop0) in ext4_reserve_inode_write:5741: IO failure
        .init(id: "ext4_error", shape: .after("EXT4-fs error (device ", atStart: true), role: .blockDevice, rule: .always(.filesystemError)),
        // EXT4-fs warning (device loop0): ext4_end_bio:343: I/O error 10 writing to inode 12 starting block 8742)
        .init(id: "ext4_warning", shape: .after("EXT4-fs warning (device ", atStart: true), role: .blockDevice, rule: .ifFailureWords(.ioError)),
        // EXT4-fs (loop0): mounted filesystem 5bd8... r/w with ordered data mode. Quota mode: none.
        // EXT4-fs (loop0): Remounting filesystem read-only   (crit)
        .init(id: "ext4", shape: .after("EXT4-fs (", atStart: true), role: .blockDevice, rule: .ifSevere(.filesystemError)),
        // XFS (sdb1): metadata I/O error in "xfs_imap_to_bp+0x5c/0xa0" at daddr 0x80 len 32 error 5   (alert)
        // XFS (sdb1): Mounting V5 Filesystem 0d5e...   (notice)
        .init(id: "xfs", shape: .after("XFS (", atStart: true), role: .blockDevice, rule: .ifSevere(.filesystemError)),
        // BTRFS error (device sdc): bdev /dev/sdc errs: wr 0, rd 1, flush 0, corrupt 0, gen 0
        // BTRFS error (device sdc state EA): level verify failed on logical 30441472 mirror 1 wanted 1 found 0
        .init(id: "btrfs_error", shape: .after("BTRFS error (device ", atStart: true), role: .blockDevice, rule: .always(.filesystemError)),
        .init(id: "btrfs_critical", shape: .after("BTRFS critical (device ", atStart: true), role: .blockDevice, rule: .always(.filesystemError)),
        // BTRFS warning (device sdc): csum failed root 5 ino 257 off 0 csum 0x98f94189 expected csum 0x8941f998 mirror 1
        .init(id: "btrfs_warning", shape: .after("BTRFS warning (device ", atStart: true), role: .blockDevice, rule: .ifFailureWords(.ioError)),
        // BTRFS info (device sdc): first mount of filesystem 1b3c...
        .init(id: "btrfs_info", shape: .after("BTRFS info (device ", atStart: true), role: .blockDevice, rule: .never),
        // Buffer I/O error on dev loop0, logical block 2, async page read
        .init(id: "buffer_io_error", shape: .after("Buffer I/O error on dev ", atStart: true), role: .blockDevice, rule: .always(.ioError)),
        // I/O error, dev loop0, sector 8742 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2
        // blk_update_request: I/O error, dev sda, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0
        // critical medium error, dev sdb, sector 4096 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0
        // (blk_print_req_error: "%s error, dev %s, sector %llu op 0x%x:(%s) ...", for
        // every blk_status: I/O, critical medium, timeout, ...)
        .init(id: "block_error", shape: .after(" error, dev ", atStart: false), role: .blockDevice, rule: .always(.ioError)),
        // sd 2:0:0:0: [sdb] tag#0 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK cmd_age=0s
        // sd 2:0:0:0: [sdb] Synchronizing SCSI cache
        .init(id: "scsi_disk", shape: .bracketAfterWord("sd "), role: .blockDevice, rule: .ifFailureWords(.ioError)),
        // nvme nvme0: I/O tag 12 (100c) opcode 0x2 (I/O Cmd) QID 1 timeout, aborting req_op:READ(0) size:4096
        .init(id: "nvme_controller", shape: .after("nvme nvme", atStart: true), role: .nvmeController, rule: .ifFailureWords(.ioError)),
        // virtio_blk virtio2: [vda] 41943040 512-byte logical blocks (21.5 GB/20.0 GiB)
        // virtio_blk virtio2: 1/0/0 default/read/poll queues
        .init(id: "virtio_blk", shape: .bracketAfterWord("virtio_blk "), role: .busDevice, rule: .ifFailureWords(.ioError)),
        // nvme0n1: I/O Cmd(0x2) @ LBA 0, 8 blocks, I/O Error (sct 0x0 / sc 0x2) MORE
        // vda: vda1 vda2
        // loop0: detected capacity change from 131072 to 0
        .init(id: "leading_name", shape: .leadingWord, role: .blockDeviceIfKnown, rule: .ifFailureWords(.ioError)),
    ])

    /// The device `message` (one kmsg record's text) names, if any.
    /// `severe`: the record's level is err or more severe.
    public static func find(in message: UnsafeRawBufferPointer, severe: Bool) -> KmsgDeviceMention? {
        for index in table.indices {
            let pattern = table[index]
            guard var name = match(pattern.shape, in: message) else { continue }
            var role = pattern.role
            if role == .nvmeController {
                // "nvme nvme0: ...": the controller's name starts inside the marker.
                name = name.lowerBound - 4..<name.upperBound
            }
            // "[vda]" after a virtio or SCSI address: the block device itself.
            if name.lowerBound > 0, message[name.lowerBound - 1] == ASCII.openBracket { role = .blockDevice }
            let rest = message.view(name.upperBound..<message.count)
            let problem: DeviceProblem?
            switch pattern.rule {
            case .always(let kind): problem = kind
            case .ifSevere(let kind): problem = severe ? kind : nil
            case .ifFailureWords(let kind): problem = hasFailureWord(rest) ? kind : nil
            case .never: problem = nil
            }
            return KmsgDeviceMention(name: name, pattern: index, role: role, problem: problem)
        }
        return nil
    }

    private static func match(_ shape: KmsgDevicePattern.Shape, in message: UnsafeRawBufferPointer) -> Range<Int>? {
        switch shape {
        case .after(let marker, let atStart):
            let start: Int
            if atStart {
                guard message.starts(with: marker) else { return nil }
                start = marker.utf8CodeUnitCount
            } else {
                guard let found = find(marker, in: message) else { return nil }
                start = found + marker.utf8CodeUnitCount
            }
            return nameRange(in: message, from: start)
        case .bracketAfterWord(let prefix):
            guard message.starts(with: prefix) else { return nil }
            let wordStart = prefix.utf8CodeUnitCount
            var index = wordStart
            while index < message.count, message[index] != ASCII.space { index += 1 }
            // "sd 2:0:0:0:" / "virtio_blk virtio2:": the word ends in ':'.
            guard index > wordStart + 1, message[index - 1] == ASCII.colon else { return nil }
            if index + 1 < message.count, message[index + 1] == ASCII.openBracket,
               let name = nameRange(in: message, from: index + 2), index + 2 + name.count < message.count,
               message[name.upperBound] == ASCII.closeBracket {
                return name
            }
            return wordStart..<index - 1
        case .leadingWord:
            var index = 0
            while index < message.count, isNameByte(message[index]) { index += 1 }
            guard index > 0, index + 1 < message.count, message[index] == ASCII.colon,
                  message[index + 1] == ASCII.space else { return nil }
            return 0..<index
        }
    }

    /// The device name starting at `start`: letters, digits, `-`, `_`, `.`,
    /// `!` (cciss!c0d0), up to 32 bytes (DISK_NAME_LEN); nil if empty.
    private static func nameRange(in message: UnsafeRawBufferPointer, from start: Int) -> Range<Int>? {
        var index = start
        while index < message.count, index - start < 32, isNameByte(message[index]) { index += 1 }
        return index > start ? start..<index : nil
    }

    @inline(__always)
    private static func isNameByte(_ byte: UInt8) -> Bool {
        ASCII.isIdentifier(byte) || byte == 0x2D || byte == 0x2E || byte == 0x21
    }

    private static func hasFailureWord(_ text: UnsafeRawBufferPointer) -> Bool {
        find("error", in: text) != nil || find("Error", in: text) != nil || find("FAILED", in: text) != nil
            || find("failed", in: text) != nil || find("timeout", in: text) != nil
    }

    /// First offset of `literal` in `text`. No allocation.
    static func find(_ literal: StaticString, in text: UnsafeRawBufferPointer) -> Int? {
        literal.withUTF8Buffer { needle in
            guard needle.count > 0, needle.count <= text.count else { return nil }
            let first = needle[0]
            var index = 0
            while index + needle.count <= text.count {
                if text[index] == first {
                    var offset = 1
                    while offset < needle.count, text[index + offset] == needle[offset] { offset += 1 }
                    if offset == needle.count { return index }
                }
                index += 1
            }
            return nil
        }
    }
}

/// The context an ftrace event was recorded in, from its common_flags
/// (TRACE_FLAG_* in kernel/trace/trace.h, documented in
/// Documentation/trace/ftrace.rst: the irqs-off/need-resched/hardirq-softirq
/// columns of the latency format).
public enum TraceContext: UInt8, Sendable, Equatable {
    case task = 0
    case softirq
    case hardirq
    case nmi

    public static let hardirqFlag: UInt8 = 0x08
    public static let softirqFlag: UInt8 = 0x10
    public static let nmiFlag: UInt8 = 0x40

    /// NMI over hardirq over softirq, as the latency format's 'Z'/'H'/'h'/'s' do.
    @inline(__always)
    public init(commonFlags flags: UInt8) {
        if flags & Self.nmiFlag != 0 { self = .nmi }
        else if flags & Self.hardirqFlag != 0 { self = .hardirq }
        else if flags & Self.softirqFlag != 0 { self = .softirq }
        else { self = .task }
    }

    public var name: StaticString {
        switch self {
        case .task: "task"
        case .softirq: "softirq"
        case .hardirq: "hardirq"
        case .nmi: "nmi"
        }
    }
}
