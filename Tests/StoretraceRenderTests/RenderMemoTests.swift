import StoretraceFixtures
import Testing
@testable import StoretraceDecode
@testable import StoretraceRender

/// Remembered pieces (`RenderMemo`) must give exactly the bytes a fresh
/// rendering gives: each test renders a sequence through one renderer, whose
/// memos hit and miss along the way, and compares every line with a new
/// renderer's (which remembers nothing yet).
@Suite struct RenderMemoTests {
    static let none = UnsafeRawBufferPointer(start: nil, count: 0)

    func string(_ build: (inout OutputBuffer) -> Void) -> String {
        var out = OutputBuffer()
        build(&out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func hitsOnlyOnTheSameKeyAndBytes() {
        var memo = RenderMemo()
        let key = MemoKey(a: 1, b: 2, c: 3, d: 4, generation: 5)
        let name: [UInt8] = Array("a.bin".utf8)
        var out = OutputBuffer()
        name.withUnsafeBytes { bytes in
            #expect(!memo.append(key, bytes, into: &out)) // nothing remembered yet
            out.append("piece")
            memo.remember(key, bytes, rendered: out, since: 0)
            #expect(memo.append(key, bytes, into: &out))
        }
        #expect(String(decoding: out.bytes, as: UTF8.self) == "piecepiece")
        var other = key
        other.generation = 6
        Array("a.bin".utf8).withUnsafeBytes { #expect(!memo.append(other, $0, into: &out)) }
        Array("a.bim".utf8).withUnsafeBytes { #expect(!memo.append(key, $0, into: &out)) }
        Array("a.bi".utf8).withUnsafeBytes { #expect(!memo.append(key, $0, into: &out)) }
        #expect(!memo.append(key, Self.none, into: &out))
        memo.clear()
        name.withUnsafeBytes { #expect(!memo.append(key, $0, into: &out)) }
        #expect(out.count == 10)
    }

    /// Input or text longer than the fixed storage is not remembered (and
    /// forgets what was).
    @Test func tooLongIsNotRemembered() {
        var memo = RenderMemo(inputCapacity: 16, textCapacity: 64)
        let key = MemoKey(a: 0, b: 0, c: 0, d: 0, generation: 0)
        var out = OutputBuffer()
        out.append("short")
        memo.remember(key, Self.none, rendered: out, since: 0)
        let long = [UInt8](repeating: 0x61, count: 17)
        long.withUnsafeBytes { memo.remember(key, $0, rendered: out, since: 0) }
        #expect(!memo.append(key, Self.none, into: &out))
        out.append(repeating: 0x62, count: 64)
        memo.remember(key, Self.none, rendered: out, since: 0)
        #expect(!memo.append(key, Self.none, into: &out))
    }

    /// Within a second and across second, minute, day and year boundaries, before 1970, with offsets
    /// that are not whole minutes, and at either end of Int64 (formatted
    /// whole there: the minute's start is out of range).
    @Test func timeStampsEqualTheFormattedWhole() {
        let base: Int64 = 1_795_442_851_123_456_789 // 2026-11-23T14:07:31.123456789Z
        // Within one second (its first and last instants too), then the instant before it.
        var times: [Int64] = [base, base + 1, base + 876_543_210, base - 123_456_789, base - 123_456_790, base + 876_543_211,
                              base + 28_876_543_211, base + 28_876_543_212, base - 91_123_456_789,
                              1_798_761_599_999_999_999, 1_798_761_600_000_000_000, 0, -1, -59_999_999_999,
                              -60_000_000_000, -60_000_000_001, .max, .min, .min + 59_999_999_999, .max - 1]
        times += times.reversed()
        for offset in [0, 3600, -5 * 3600, 5 * 3600 + 1800, 1234, -61] {
            var memo = TimeStampMemo()
            for time in times {
                let memoized = string { memo.appendTimeOfDay(epochNanoseconds: time, utcOffsetSeconds: offset, into: &$0) }
                let whole = string { $0.appendTimeOfDay(epochNanoseconds: time, utcOffsetSeconds: offset) }
                #expect(memoized == whole, "\(time) at offset \(offset)")
            }
        }
        var memo = TimeStampMemo()
        for time in times {
            #expect(string { memo.appendRFC3339(epochNanoseconds: time, into: &$0) } == TimeText.rfc3339(epochNanoseconds: time),
                    "\(time)")
        }
    }

    func copy(comm: String = "io.Copy", pid: UInt32 = 4120, input: String? = "src.bin", inputInode: UInt64 = 12) -> RecordBuilder {
        var builder = RecordBuilder()
        builder.kind = 10 // copy_file_range
        builder.comm = comm
        builder.pid = pid
        builder.tid = pid
        builder.latency = 250_000
        builder.args = [3, 0, 4, 0, 4096, 0]
        builder.detail = [inputInode, 7 << 20, 13, 60, 0, 0] // in: loop0 (7:0), out: a tmpfs (0:60)
        builder.strings = [input, "dst.bin"]
        builder.ret = 4096
        return builder
    }

    /// One renderer of each kind through a sequence of copies that repeat,
    /// change one input at a time, and change the read-ahead in force and the
    /// colors in between: every line equals a fresh renderer's.
    @Test func renderersEqualFreshOnesThroughChanges() throws {
        var devices = BlockDevicesInForce([NodeSnapshot.BlockDevice(name: "loop0", major: 7, minor: 0, readAheadKB: 4)])
        let enrichment = SnapshotEnrichment(devices: devices)
        let json = JSONRenderer(clock: clock, enrichment: enrichment)
        let text = TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock)
        text.enrichment = enrichment
        func check(_ builder: RecordBuilder, _ expectations: (String, String) -> Void = { _, _ in }) throws {
            let freshJSON = JSONRenderer(clock: clock, enrichment: json.enrichment == nil ? nil : SnapshotEnrichment(devices: devices))
            let freshText = TextRenderer(color: text.color, utcOffsetSeconds: 0, clock: clock)
            freshText.enrichment = text.enrichment == nil ? nil : SnapshotEnrichment(devices: devices)
            freshJSON.kubeletRoot = json.kubeletRoot
            freshText.kubeletRoot = text.kubeletRoot
            try builder.bytes.withRecord { record in
                let lines = (string { json.render(record, into: &$0) }, string { text.render(record, into: &$0) })
                #expect(lines.0 == string { freshJSON.render(record, into: &$0) })
                #expect(lines.1 == string { freshText.render(record, into: &$0) })
                expectations(lines.0, lines.1)
            }
        }
        try check(copy())
        try check(copy())
        try check(copy(comm: "cp"))
        try check(copy(comm: "cp", pid: 4121))
        try check(copy(input: "other.bin"))
        try check(copy(input: nil)) { json, _ in #expect(json.contains(#""file_in":{"dev":"7:0","ino":12,"name":null,"#)) }
        try check(copy(input: ""))
        try check(copy(inputInode: 99))
        let change = QueueSettingChange(major: 7, minor: 0, device: Array("loop0".utf8), setting: .readAheadKB,
                                        old: Array("4".utf8), new: Array("128".utf8))
        devices.apply(change)
        enrichment.devices.apply(change)
        try check(copy(inputInode: 99)) { json, text in
            #expect(json.contains(#""block_device":"loop0","read_ahead_kb":128}"#))
            #expect(text.contains("3<src.bin on loop0 read_ahead_kb=128>"))
        }
        text.color = true
        try check(copy(inputInode: 99)) { _, text in #expect(text.contains("\u{1B}[36mio.Copy[4120]")) }
        text.color = false
        try check(copy(inputInode: 99))
        json.enrichment = nil
        text.enrichment = nil
        try check(copy(inputInode: 99)) { json, text in
            #expect(!json.contains("mntns_owner"))
            #expect(!json.contains("read_ahead_kb"))
            #expect(text.contains("(3<src.bin>, NULL, 4<dst.bin>, NULL, 4096, 0)"))
        }
        try check(copy(pid: 7))
        var splice = copy()
        splice.kind = 11 // splice: other argument roles, the same memos
        try check(splice)
        // A call's fields are remembered whole (`SyscallRecord.argumentBytes`):
        // an offset that moves, a length, a flag, a truncated name, another root.
        var moved = copy()
        moved.args = [3, 0x7ffd_0000, 4, 0, 4096, 0]
        moved.detail = [12, 7 << 20, 13, 60, 8192, 0]
        try check(moved) { json, text in
            #expect(json.contains(#""off_in":8192,"#))
            #expect(text.contains("[8192]"))
        }
        moved.detail = [12, 7 << 20, 13, 60, 16384, 0]
        try check(moved) { json, text in
            #expect(json.contains(#""off_in":16384,"#))
            #expect(text.contains("[16384]"))
        }
        moved.args = [3, 0x7ffd_0000, 4, 0, 512, 0]
        try check(moved) { json, _ in #expect(json.contains(#""len":512,"#)) }
        moved.truncated = 1
        try check(moved) { json, _ in #expect(json.hasSuffix(",\"truncated\":true}\n")) }
        let umount = RecordBuilder.umountCall("/var/lib/kubelet/pods/7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b/volumes/kubernetes.io~csi/pvc-12ab/mount")
        try check(umount) { json, _ in #expect(json.contains(#""k8s":{"role":"pod-publish","#)) }
        json.kubeletRoot = Array("/other/kubelet".utf8)
        text.kubeletRoot = json.kubeletRoot
        try check(umount) { json, _ in #expect(!json.contains("k8s")) }
    }
}
