import StoretraceFixtures
import Foundation
import Testing
@testable import StoretraceDecode
@testable import StoretraceRender

/// 2026-11-23T14:07:31.123456789Z for a monotonic timestamp of 1 s.
let clock = ClockOffset(realtimeMinusMonotonic: 1_795_442_851_123_456_789 - 1_000_000_000)

func text(_ builder: RecordBuilder, color: Bool = false) throws -> String {
    var out = OutputBuffer()
    try builder.bytes.withRecord { TextRenderer(color: color, utcOffsetSeconds: 0, clock: clock).render($0, into: &out) }
    return String(decoding: out.bytes, as: UTF8.self)
}

func json(_ builder: RecordBuilder) throws -> String {
    var out = OutputBuffer()
    try builder.bytes.withRecord { JSONRenderer(clock: clock).render($0, into: &out) }
    return String(decoding: out.bytes, as: UTF8.self)
}

extension RecordBuilder {
    static func mount(_ strings: [String?], flags: UInt64, ret: Int64 = 0) -> RecordBuilder {
        var builder = RecordBuilder()
        builder.args = [0x1000, 0x2000, 0x3000, flags, 0x4000, 0]
        builder.strings = strings
        builder.ret = ret
        return builder
    }
}

@Suite struct TextRendererTests {
    /// The syscall-record fuzz target's crash: a record stamped so late that
    /// its wall time is 7.6 s before the end of Int64, rendered one hour east
    /// of UTC, trapped on an overflow. Its time of day is printed.
    @Test func recordAtTheEndOfTimeEastOfUTC() throws {
        var builder = RecordBuilder()
        builder.kind = 3 // fsopen, as in the crashing input
        builder.timestamp = 0x6868_6300_0000_9797
        builder.strings = ["ext4"]
        var out = OutputBuffer()
        let renderer = TextRenderer(color: true, utcOffsetSeconds: 3600,
                                    clock: ClockOffset(realtimeMinusMonotonic: 1_700_000_000_000_000_000))
        try builder.bytes.withRecord { renderer.render($0, into: &out) }
        #expect(String(decoding: out.bytes, as: UTF8.self).contains("00:47:09.173602"))
    }

    @Test func mountLine() throws {
        let line = try text(.mount(["/dev/vdb", "/mnt/x", "ext4", ""], flags: 0x400))
        #expect(line == "14:07:31.123456  mount[4120]            mnt:4026531841     12.3µs  mount(\"/dev/vdb\", \"/mnt/x\", \"ext4\", MS_NOATIME, \"\") = 0\n")
    }

    @Test func failedUmountWithDetach() throws {
        var builder = RecordBuilder()
        builder.kind = 2
        builder.comm = "kubelet"
        builder.args = [0x1000, 2, 0, 0, 0, 0]
        builder.strings = ["/var/lib/kubelet/plugins/globalmount"]
        builder.ret = -16
        builder.latency = 2_500_000
        let line = try text(builder)
        #expect(line == "14:07:31.123456  kubelet[4120]          mnt:4026531841     2.50ms  umount2(\"/var/lib/kubelet/plugins/globalmount\", MNT_DETACH) = -1 EBUSY\n")
    }

    /// A CSI node plugin's bind mount into a pod: the pod, the volume and
    /// the role after the call, in text and JSON.
    @Test func kubeletPathsNameThePodAndVolume() throws {
        let pod = "7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
        var builder = RecordBuilder.mount(["/var/lib/kubelet/plugins/kubernetes.io/csi/disk.csi.example.com/3f9a/globalmount",
                                           "/var/lib/kubelet/pods/\(pod)/volumes/kubernetes.io~csi/pvc-12ab/mount", nil, nil],
                                          flags: 0x1000)
        builder.comm = "csi-node"
        #expect(try text(builder).hasSuffix(" = 0 [pod-publish pod 7f3e1c2a… vol pvc-12ab]\n"))
        #expect(try json(builder).hasSuffix(
            #","k8s":{"role":"pod-publish","pod_uid":"7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b","volume":"pvc-12ab","csi_driver":null,"plugin":"kubernetes.io~csi"}}"# + "\n"))
        // The staging mount names the driver; a path outside kubelet's layout adds nothing.
        var staging = RecordBuilder.mount(["/dev/vdb", "/var/lib/kubelet/plugins/kubernetes.io/csi/disk.csi.example.com/3f9a/globalmount", "ext4", nil], flags: 0)
        staging.comm = "csi-node"
        #expect(try text(staging).hasSuffix(" = 0 [staging csi:disk.csi.example.com]\n"))
        #expect(try !json(.mount(["/dev/vdb", "/mnt/x", "ext4", nil], flags: 0)).contains("k8s"))
    }

    @Test func colorsOnlyWhenAsked() throws {
        let plain = try text(.mount(["a", "b", nil, nil], flags: 0x1000))
        let colored = try text(.mount(["a", "b", nil, nil], flags: 0x1000), color: true)
        #expect(!plain.contains("\u{1B}"))
        #expect(colored.contains("\u{1B}[36mmount[4120]\u{1B}[0m"))
        // Same columns once the escapes are removed.
        let stripped = colored.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
        #expect(stripped == plain)
    }

    @Test func newMountAPI() throws {
        var fsconfig = RecordBuilder()
        fsconfig.kind = 4
        fsconfig.args = [3, 1, 0x1000, 0x2000, 0, 0]
        fsconfig.strings = ["size", "1M"]
        #expect(try text(fsconfig).hasSuffix("fsconfig(3, FSCONFIG_SET_STRING, \"size\", \"1M\", 0) = 0\n"))

        var create = RecordBuilder()
        create.kind = 4
        create.args = [3, 6, 0, 0, 0, 0]
        create.strings = [nil, nil]
        #expect(try text(create).hasSuffix("fsconfig(3, FSCONFIG_CMD_CREATE, NULL, NULL, 0) = 0\n"))

        var fsmount = RecordBuilder()
        fsmount.kind = 5
        fsmount.args = [3, 1, 0x11, 0, 0, 0]
        fsmount.ret = 4
        #expect(try text(fsmount).hasSuffix("fsmount(3, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOATIME) = 4\n"))

        var move = RecordBuilder()
        move.kind = 6
        move.args = [4, 0x1000, UInt64(bitPattern: -100), 0x2000, 4, 0]
        move.strings = ["", "/mnt/t"]
        #expect(try text(move).hasSuffix("move_mount(4, \"\", AT_FDCWD, \"/mnt/t\", MOVE_MOUNT_F_EMPTY_PATH) = 0\n"))

        var setattr = RecordBuilder()
        setattr.kind = 8
        setattr.args = [UInt64(bitPattern: -100), 0x1000, 0x8000, 0x3000, 32, 0]
        setattr.detail = [1, 0x70, 0x40000, 0, 0, 0]
        setattr.strings = ["/mnt/t"]
        #expect(try text(setattr).hasSuffix(
            "mount_setattr(AT_FDCWD, \"/mnt/t\", AT_RECURSIVE, {attr_set=MOUNT_ATTR_RDONLY, attr_clr=MOUNT_ATTR__ATIME, propagation=MS_PRIVATE}, 32) = 0\n"))
    }

    @Test func copyFileRangeShowsFilesAndBytes() throws {
        var builder = RecordBuilder()
        builder.kind = 10
        builder.comm = "io.Copy"
        builder.args = [3, 0x7000, 4, 0, 1 << 20, 0]
        builder.detail = [12, (8 << 20) | 1, 13, (8 << 20) | 1, 4096, 0]
        builder.strings = ["a.bin", "b.bin"]
        builder.ret = 1 << 20
        #expect(try text(builder).hasSuffix("copy_file_range(3<a.bin>, [4096], 4<b.bin>, NULL, 1048576, 0) = 1048576 (81004.5 MiB/s)\n"))
    }

    @Test func hostileStringsAreEscaped() throws {
        let line = try text(.mount(["a\"b\\c\n\u{1B}[31m", "/ok", nil, nil], flags: 0))
        #expect(line.contains("mount(\"a\\\"b\\\\c\\n\\x1b[31m\", \"/ok\", NULL, 0, NULL)"))
        #expect(!line.dropLast().contains("\n"))
    }

    @Test func truncatedStringIsMarked() throws {
        var builder = RecordBuilder()
        builder.kind = 2
        builder.strings = ["/very/long"]
        builder.truncated = 1
        #expect(try text(builder).hasSuffix("umount2(\"/very/long\"..., 0) = 0 (truncated)\n"))
    }

    @Test func unreadablePointerShownAsAddress() throws {
        var builder = RecordBuilder()
        builder.kind = 2
        builder.args = [0xdead0000, 0, 0, 0, 0, 0]
        builder.strings = [""]
        builder.faulted = 1
        builder.ret = -14
        #expect(try text(builder).hasSuffix("umount2(0xdead0000, 0) = -1 EFAULT\n"))
    }

    @Test func latencyUnits() {
        let renderer = TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock)
        func format(_ ns: UInt64) -> String {
            var out = OutputBuffer()
            let columns = renderer.appendLatency(ns, into: &out)
            #expect(columns == out.displayWidth(since: 0), "columns of \(ns)ns") // what the column is aligned by
            return String(decoding: out.bytes, as: UTF8.self)
        }
        #expect(format(812) == "812ns")
        #expect(format(1_000) == "1.00µs")
        #expect(format(12_345) == "12.3µs")
        #expect(format(180_000) == "180µs")
        #expect(format(4_560_000) == "4.56ms")
        #expect(format(1_230_000_000) == "1.23s")
        #expect(format(75_000_000_000) == "75.0s")
        #expect(format(1_230_000_000_000) == "1230s")
        #expect(format(0) == "0ns")
        #expect(format(999_999) == "999µs")
        #expect(format(.max) == "18446744073s")
    }
}

@Suite struct JSONRendererTests {
    @Test func mountObject() throws {
        let line = try json(.mount(["/a", "/b", nil, nil], flags: 0x5000))
        #expect(line == """
            {"time":"2026-11-23T14:07:31.123456789Z","type":"mount","pid":4120,"tid":4121,"comm":"mount","uid":0,\
            "mntns":4026531841,"cgroup_id":1,"ret":0,"errno":null,"latency_ns":12345,"source":"/a","target":"/b",\
            "fstype":null,"flags":["MS_BIND","MS_REC"],"data":null}

            """)
    }

    @Test func contractFieldsParse() throws {
        var builder = RecordBuilder()
        builder.kind = 2
        builder.args = [0x1000, 0x40000002, 0, 0, 0, 0]
        builder.strings = ["/mnt/x"]
        builder.ret = -22
        let object = try JSONSerialization.jsonObject(with: Data(json(builder).utf8)) as! [String: Any]
        #expect(object["type"] as? String == "umount")
        #expect(object["errno"] as? String == "EINVAL")
        #expect(object["ret"] as? Int == -22)
        #expect(object["flags"] as? [String] == ["MNT_DETACH", "0x40000000"])
        #expect(object["target"] as? String == "/mnt/x")
        for key in ["time", "type", "pid", "tid", "comm", "mntns", "ret", "errno", "latency_ns"] {
            #expect(object.keys.contains(key), "\(key)")
        }
    }

    @Test func everyKindIsValidJSON() throws {
        for kind in SyscallKind.allCases {
            var builder = RecordBuilder()
            builder.kind = kind.rawValue
            builder.args = [3, 0x1000, 4, 0x2000, 4096, 1]
            builder.strings = [String?](repeating: "x\u{1}y\u{FF}", count: kind == .mount ? 4 : kind == .fsmount ? 0 : kind == .umount || kind == .fsopen || kind == .openTree || kind == .mountSetattr || kind == .fspick ? 1 : 2)
            let line = try json(builder)
            #expect(line.hasSuffix("}\n"))
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["type"] as? String == kind.name.description)
        }
    }

    @Test func invalidUTF8BecomesReplacement() throws {
        var builder = RecordBuilder()
        builder.kind = 2
        builder.strings = ["ok"]
        var bytes = builder.bytes
        bytes[bytes.count - 1] = 0xff // "o\xff"
        var out = OutputBuffer()
        try bytes.withRecord { JSONRenderer(clock: clock).render($0, into: &out) }
        let line = String(decoding: out.bytes, as: UTF8.self)
        #expect(line.contains("\"target\":\"o\u{FFFD}\""))
    }

    @Test func copyFileRangeObject() throws {
        var builder = RecordBuilder()
        builder.kind = 10
        builder.args = [3, 0x7000, 4, 0, 1 << 20, 0]
        builder.detail = [12, (8 << 20) | 1, 13, (259 << 20) | 3, 4096, 0]
        builder.strings = ["a.bin", "b.bin"]
        builder.ret = 1 << 20
        let line = try json(builder)
        #expect(line.contains("\"fd_in\":3,\"off_in\":4096,\"fd_out\":4,\"off_out\":null,\"len\":1048576,\"flags\":[],"
            + "\"file_in\":{\"dev\":\"8:1\",\"ino\":12,\"name\":\"a.bin\"},\"file_out\":{\"dev\":\"259:3\",\"ino\":13,\"name\":\"b.bin\"}}"))
    }

    @Test func truncatedFlag() throws {
        var builder = RecordBuilder()
        builder.kind = 2
        builder.strings = ["/long"]
        builder.truncated = 1
        #expect(try json(builder).hasSuffix(",\"truncated\":true}\n"))
    }
}
