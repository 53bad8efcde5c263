// Parsers for the procfs text a holder scan reads: fdinfo, maps, swaps, and
// the propagation tags of a mountinfo line. Pure and byte-based (the scan
// runs them for every fd and mapping on the node); each returns nil for
// text it does not understand, and the scan counts the entry as unreadable.

extension NodeSnapshot.Mount {
    /// N of `shared:N`: the mounts of one peer group propagate to each
    /// other, so `umount` of one fails with EBUSY while a peer is busy.
    public var peerGroup: Int? { tag("shared:") }
    /// N of `master:N`: the peer group this mount receives propagation from.
    public var master: Int? { tag("master:") }
    /// N of `propagate_from:N`: the closest dominant peer group reachable
    /// from this namespace (shown only with `master:`, when they differ).
    public var propagateFrom: Int? { tag("propagate_from:") }
    public var isUnbindable: Bool { optionalFields.contains("unbindable") }

    private func tag(_ prefix: String) -> Int? {
        for field in optionalFields where field.hasPrefix(prefix) {
            return Int(field.dropFirst(prefix.count))
        }
        return nil
    }
}

extension SnapshotText {
    /// The fields of /proc/PID/fdinfo/N a holder scan uses:
    ///
    ///     pos:	0
    ///     flags:	0100002
    ///     mnt_id:	31
    ///     ino:	1234
    ///
    /// `flags` is octal (the open(2) flags, O_EXCL stripped by the kernel).
    public struct FileDescriptorInfo: Equatable, Sendable {
        public var flags: UInt32?
        public var mountID: Int?

        public init(flags: UInt32? = nil, mountID: Int? = nil) {
            self.flags = flags
            self.mountID = mountID
        }
    }

    public static func fileDescriptorInfo(_ bytes: UnsafeRawBufferPointer) -> FileDescriptorInfo {
        var info = FileDescriptorInfo()
        bytes.forEachLine { range in
            let line = bytes.view(range)
            if line.starts(with: "flags:") {
                info.flags = line.octal(line.trimmed(6..<line.count)).flatMap { UInt32(exactly: $0) }
            } else if line.starts(with: "mnt_id:") {
                info.mountID = line.decimal(line.trimmed(7..<line.count)).flatMap { Int(exactly: $0) }
            }
        }
        return info
    }

    public static func fileDescriptorInfo(_ text: String) -> FileDescriptorInfo {
        var text = text
        return text.withUTF8 { fileDescriptorInfo(UnsafeRawBufferPointer($0)) }
    }

    /// One line of /proc/PID/maps:
    ///
    ///     7f2c4a000000-7f2c4a021000 r--p 00000000 fd:01 1835041    /usr/lib/x86_64-linux-gnu/libc.so.6
    ///
    /// `major`/`minor` are the device of the mapped file (hex in the file);
    /// anonymous mappings have 00:00 and inode 0. `path` is nil for them; a
    /// path is never unescaped (the kernel escapes only "\n" as "\012").
    public struct Mapping: Equatable, Sendable {
        /// "7f2c4a000000-7f2c4a021000": the name of its /proc/PID/map_files entry.
        public var range: String
        public var major: UInt32
        public var minor: UInt32
        public var inode: UInt64
        public var path: String?

        public init(range: String, major: UInt32, minor: UInt32, inode: UInt64, path: String?) {
            self.range = range
            self.major = major
            self.minor = minor
            self.inode = inode
            self.path = path
        }
    }

    /// Calls `body` with each file-backed mapping whose device passes
    /// `wanted` (checked before anything is allocated). Malformed lines are
    /// counted in the return value.
    @discardableResult
    public static func forEachMapping(_ bytes: UnsafeRawBufferPointer, wanted: (UInt32, UInt32) -> Bool,
                                      _ body: (Mapping) -> Void) -> Int {
        var malformed = 0
        bytes.forEachLine { range in
            guard !range.isEmpty else { return }
            let line = bytes.view(range)
            // range, perms, offset, dev, inode, path: split on the first five runs of spaces.
            var fields: [Range<Int>] = []
            var index = 0
            while fields.count < 5, index < line.count {
                while index < line.count, line[index] == ASCII.space { index += 1 }
                let start = index
                while index < line.count, line[index] != ASCII.space { index += 1 }
                if index > start { fields.append(start..<index) }
            }
            guard fields.count == 5, let colon = line.firstIndex(of: ASCII.colon, in: fields[3]),
                  let major = line.hexadecimal(fields[3].lowerBound..<colon).flatMap({ UInt32(exactly: $0) }),
                  let minor = line.hexadecimal((colon + 1)..<fields[3].upperBound).flatMap({ UInt32(exactly: $0) }),
                  let inode = line.decimal(fields[4])
            else {
                malformed += 1
                return
            }
            guard inode != 0, wanted(major, minor) else { return }
            let pathRange = line.trimmed(fields[4].upperBound..<line.count)
            body(Mapping(range: line.string(fields[0]), major: major, minor: minor, inode: inode,
                         path: pathRange.isEmpty ? nil : line.string(pathRange)))
        }
        return malformed
    }

    /// The Filename column of /proc/swaps (header line skipped; spaces and
    /// tabs in names are octal-escaped by the kernel and undone here):
    ///
    ///     Filename                                Type            Size            Used            Priority
    ///     /swapfile                               file            1048572         0               -2
    public static func swapFiles(_ text: Substring) -> [String] {
        var text = text
        return text.withUTF8 { swapFiles(UnsafeRawBufferPointer($0)) }
    }

    /// The same, on bytes.
    public static func swapFiles(_ bytes: UnsafeRawBufferPointer) -> [String] {
        var names: [String] = []
        var header = true
        bytes.forEachLine { range in
            guard !range.isEmpty else { return }
            if header { header = false; return }
            let end = (range.lowerBound..<range.upperBound).first { bytes[$0] == ASCII.space || bytes[$0] == ASCII.tab }
            guard let end else { return }
            names.append(unescapeOctal(bytes.view(range.lowerBound..<end)))
        }
        return names
    }

    /// Whether a process is a kernel thread (kthreadd and its children),
    /// which must not stand for a mount namespace: the `Kthread:` line
    /// where the kernel has it (6.3+), else pid 2 and its children.
    public static func isKernelThread(_ status: ProcessStatus, pid: Int32) -> Bool {
        if let flag = status.kernelThread { return flag }
        return pid == 2 || status.ppid == 2
    }

    /// "7:0" → (7, 0) when the whole text is a device number (a holder
    /// target given as MAJ:MIN); nil for anything else, including paths.
    public static func deviceNumberArgument(_ text: String) -> (major: UInt32, minor: UInt32)? {
        var text = text
        return text.withUTF8 { deviceNumber(UnsafeRawBufferPointer($0)) }
    }
}

extension UnsafeRawBufferPointer {
    /// An unsigned octal number filling the whole range; nil when empty, on
    /// a non-octal byte or when longer than 21 digits (63 bits).
    func octal(_ range: Range<Int>) -> UInt64? {
        guard !range.isEmpty, range.count <= 21 else { return nil }
        var value: UInt64 = 0
        for index in range {
            let byte = self[index]
            guard byte >= ASCII.zero, byte <= ASCII.zero + 7 else { return nil }
            value = value << 3 | UInt64(byte - ASCII.zero)
        }
        return value
    }
}
