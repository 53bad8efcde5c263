import StoretraceDecode

/// Records of the mount family, with the arguments and strings the BPF
/// program stores for each (see the string slots in bpf/storetrace.bpf.c).
/// Pointers are fake non-zero addresses; a nil string is a NULL pointer.
extension RecordBuilder {
    static func call(_ kind: SyscallKind, _ args: [UInt64], _ strings: [String?], ret: Int64) -> RecordBuilder {
        var builder = RecordBuilder()
        builder.kind = kind.rawValue
        builder.args = args + [UInt64](repeating: 0, count: 6 - args.count)
        builder.strings = strings
        builder.ret = ret
        return builder
    }

    /// mount(source, target, fstype, flags, data)
    public static func mountCall(_ source: String?, _ target: String?, _ fstype: String?, flags: UInt64,
                                 data: String? = nil, ret: Int64 = 0) -> RecordBuilder {
        call(.mount, [0x1000, 0x2000, fstype == nil ? 0 : 0x3000, flags, data == nil ? 0 : 0x4000],
             [source, target, fstype, data], ret: ret)
    }

    /// umount2(target, flags)
    public static func umountCall(_ target: String, flags: UInt64 = 0, ret: Int64 = 0) -> RecordBuilder {
        call(.umount, [0x1000, flags], [target], ret: ret)
    }

    /// fsopen(fstype, flags) = ret
    public static func fsopenCall(_ fstype: String, flags: UInt64 = 1, ret: Int64) -> RecordBuilder {
        call(.fsopen, [0x1000, flags], [fstype], ret: ret)
    }

    /// fsconfig(fd, cmd, key, value, aux): the value string only for
    /// SET_STRING (1), SET_PATH (3), SET_PATH_EMPTY (4), as BPF reads it.
    public static func fsconfigCall(_ fd: Int32, _ cmd: UInt64, _ key: String? = nil, _ value: String? = nil,
                                    aux: Int32 = 0, ret: Int64 = 0) -> RecordBuilder {
        let stringValue = cmd == 1 || cmd == 3 || cmd == 4
        return call(.fsconfig, [UInt64(bitPattern: Int64(fd)), cmd, key == nil ? 0 : 0x1000,
                                stringValue && value != nil ? 0x2000 : 0, UInt64(bitPattern: Int64(aux))],
                    [key, stringValue ? value : nil], ret: ret)
    }

    /// fsmount(fd, flags, attr_flags) = ret
    public static func fsmountCall(_ fd: Int32, flags: UInt64 = 1, attrFlags: UInt64 = 0, ret: Int64) -> RecordBuilder {
        call(.fsmount, [UInt64(bitPattern: Int64(fd)), flags, attrFlags], [], ret: ret)
    }

    /// move_mount(from_dfd, from_path, to_dfd, to_path, flags)
    public static func moveMountCall(_ fromDFD: Int32, _ fromPath: String, _ toDFD: Int32, _ toPath: String,
                                     flags: UInt64 = 0x4, ret: Int64 = 0) -> RecordBuilder {
        call(.moveMount, [UInt64(bitPattern: Int64(fromDFD)), 0x1000, UInt64(bitPattern: Int64(toDFD)), 0x2000, flags],
             [fromPath, toPath], ret: ret)
    }

    /// open_tree(dfd, path, flags) = ret
    public static func openTreeCall(_ dfd: Int32, _ path: String, flags: UInt64, ret: Int64) -> RecordBuilder {
        call(.openTree, [UInt64(bitPattern: Int64(dfd)), 0x1000, flags], [path], ret: ret)
    }

    /// mount_setattr(dfd, path, flags, {attr_set, attr_clr, propagation}, size)
    public static func mountSetattrCall(_ dfd: Int32, _ path: String, flags: UInt64, set: UInt64 = 0, clear: UInt64 = 0,
                                        propagation: UInt64 = 0, ret: Int64 = 0) -> RecordBuilder {
        var builder = call(.mountSetattr, [UInt64(bitPattern: Int64(dfd)), 0x1000, flags, 0x5000, 32], [path], ret: ret)
        builder.detail = [set, clear, propagation, 0, 0, 0]
        return builder
    }

    /// fspick(dfd, path, flags) = ret
    public static func fspickCall(_ dfd: Int32, _ path: String, flags: UInt64 = 1, ret: Int64) -> RecordBuilder {
        call(.fspick, [UInt64(bitPattern: Int64(dfd)), 0x1000, flags], [path], ret: ret)
    }

    /// The same call made by another thread (and process, if given).
    public func by(tid: UInt32, pid: UInt32? = nil, comm: String? = nil) -> RecordBuilder {
        var copy = self
        copy.tid = tid
        if let pid { copy.pid = pid }
        if let comm { copy.comm = comm }
        return copy
    }
}

/// Calls in time order: each starts 100 µs after the previous one and
/// takes 10 µs, from the builder's default timestamp (1 s).
public func inSequence(_ calls: [RecordBuilder], from start: UInt64 = 1_000_000_000) -> [RecordBuilder] {
    calls.enumerated().map { index, call in
        var timed = call
        timed.timestamp = start + UInt64(index) * 100_000
        timed.latency = 10_000
        return timed
    }
}

extension RecordBuilder {
    /// copy_file_range(3<src.bin>, NULL, 4<dst.bin>, NULL, bytes, 0) = bytes,
    /// both files on `device` (the kernel's dev_t: major << 20 | minor).
    public static func copyCall(bytes: Int64, device: UInt64 = 7 << 20, latency: UInt64) -> RecordBuilder {
        var builder = call(.copyFileRange, [3, 0, 4, 0, UInt64(max(bytes, 0)), 0], ["src.bin", "dst.bin"], ret: bytes)
        builder.comm = "io.Copy"
        builder.latency = latency
        builder.detail = [12, device, 13, device, 0, 0]
        return builder
    }
}
