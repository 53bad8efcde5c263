import Foundation
import Testing
@testable import StoretraceDecode
@testable import StoretraceRender
import StoretraceFixtures

@Suite struct HolderRendererTests {
    /// Wall time = monotonic + this: the scan at 1_607_983_065_673 ns is 2026-11-23T14:07:31.123456789Z... minus.
    let clock = ClockOffset(realtimeMinusMonotonic: 1_795_442_851_123_456_789 - 1_607_983_065_673)

    func text(_ report: HolderReport, explains: HolderRenderer.Explains? = nil) -> String {
        var out = OutputBuffer()
        HolderRenderer.renderTarget(report, into: &out)
        HolderRenderer.renderText(report, clock: clock, explains: explains, into: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func everyKindOfHolderByteForByte() {
        // Paths are escaped as mountinfo does: space \040, newline \012.
        #expect(text(everyHolderReport()) == """
            /var/lib/kubelet/plugins/kubernetes.io/csi/x/globalmount: mount 46 (ext4 /dev/vdb at /tmp/a\\040b\\012c, dev 254:16, peer group 2) in host
              ↳ busy: pid 812 (sleep) in mnt:4026532178, cwd /tmp/a\\040b\\012c, on a copy of it (peer group 2)
              ↳ busy: pid 813 (py"thon) in host, root /x, on a copy of it (same device and root)
              ↳ busy: pid 814 (e) in host, exe /bin/e, on the same filesystem (mounted from /sub)
              ↳ busy: pid 815 (cat) in host, fd 3 /tmp/f O_RDWR|O_LARGEFILE, on it
              ↳ busy: pid 816 (m) in mnt:4026532200, map /lib.so, on a copy that receives its propagation (master:2)
              ↳ busy: pid 817 (fsck) in host, fd 4 /dev/vdb open O_RDONLY|O_LARGEFILE|O_CLOEXEC
              ↳ busy: pid 818 (python3) in host, claimed /dev/vdb exclusively 2.50 s before the scan (traced claim)
              ↳ busy: mnt:4026532178 (sleep[812]) has a copy of it at /tmp/a\\040b\\012c (peer group 2, mount 69)
              ↳ busy: a mount on top of it at /tmp/a\\040b\\012c in host (mount 99)
              ↳ busy: mnt:4026532300 has no process; the nsfs bind mount /run/pin keeps it, and it holds a copy (peer group 2)
              ↳ busy: dm-0 is stacked on it (sysfs holders/)
              ↳ busy: loop3 is backed by /tmp/f.img, on it
              ↳ busy: swap on /dev/vdb
              ↳ skipped: the scan ran out of time after 4.20 ms: holders may be missing; 1 process exited during the scan; 2 entries unreadable; 4 mount namespaces without a readable mount table; 3 processes past the limit; 5 more holders not listed

            """)
    }

    @Test func nothingFoundSaysWhenTheScanRan() {
        let report = HolderReport(target: .init(given: "/tmp/x/D", kind: .path, mountID: 46, mountNamespace: 4_026_531_832,
                                                mountPoint: "/tmp/x/D", root: "/", fstype: "tmpfs", source: "tmpfs",
                                                major: 0, minor: 40),
                                  scannedAtMonotonicNanoseconds: 1_607_983_065_673,
                                  namespaces: [.init(inode: 4_026_531_832, isHost: true, processCount: 90)],
                                  counts: .init(processes: 90, mountNamespaces: 2))
        let explains = HolderRenderer.Explains(type: "umount", pid: 700, tid: 701, comm: "umount",
                                               monotonicNanoseconds: 1_607_983_065_673 - 2_500_000)
        #expect(text(report, explains: explains) == """
            /tmp/x/D: mount 46 (tmpfs tmpfs at /tmp/x/D, dev 0:40) in host
              ↳ nothing holds it: scan at 2026-11-23T14:07:31.123456789Z (2.50 ms after the umount), 90 processes in 2 mount namespaces

            """)
    }

    @Test func holdersEventJSON() throws {
        let report = everyHolderReport()
        let explains = HolderRenderer.Explains(type: "umount", pid: 700, tid: 701, comm: "umount\n",
                                               monotonicNanoseconds: 1_607_983_000_000)
        var out = OutputBuffer()
        HolderRenderer.renderJSON(report, clock: clock, explains: explains, into: &out)
        let line = String(decoding: out.bytes, as: UTF8.self)
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        #expect(line.hasPrefix(#"{"time":"2026-11-23T14:07:31.123456789Z","type":"holders","pid":700,"tid":701,"comm":"umount\n","explains":{"type":"umount","pid":700,"tid":701,"time":"2026-11-23T14:07:31.123391116Z","time_ns":1607983000000},"target":{"given":"#))
        // The body is the stored report without format/version: a capture's
        // bytes and the printed event cannot drift apart.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect((object["holders"] as? [Any])?.count == report.holders.count)
        #expect(line.contains(String(report.jsonText().dropFirst(#"{"format":"storetrace-holders","version":1,"#.count).dropLast())))

        out.removeAll()
        HolderRenderer.renderJSON(report, clock: clock, into: &out)
        #expect(String(decoding: out.bytes, as: UTF8.self).hasPrefix(
            #"{"time":"2026-11-23T14:07:31.123456789Z","type":"holders","pid":null,"tid":null,"comm":null,"explains":null,"target":"#))
    }

    @Test func controlCharactersInCommAndPathsNeverReachTheTerminal() {
        var report = everyHolderReport()
        report.holders = [.init(how: .cwd, via: .target, pid: 9, comm: "\u{1B}[31mevil", mountNamespace: 4_026_531_832,
                                path: "/tmp/\u{1B}]0;title\u{7}", mountID: 46)]
        let output = text(report)
        #expect(!output.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 })
        #expect(output.contains(#"pid 9 (\033[31mevil) in host, cwd /tmp/\033]0;title\007, on it"#))
    }

    @Test func aMountGoneBeforeTheScanIsSaidToBeGone() throws {
        let report = HolderReport.gone(mountPoint: "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pv/mount",
                                       mountNamespace: 4_026_531_832, scannedAtMonotonicNanoseconds: 1_607_983_065_673)
        let explains = HolderRenderer.Explains(type: "umount", pid: 700, tid: 701, comm: "umount",
                                               monotonicNanoseconds: 1_607_983_065_673 - 61_250_000)
        #expect(text(report, explains: explains) == """
            /var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pv/mount: no longer mounted in mnt:4026531832
              ↳ unmounted since: no longer a mount point at the scan (61.25 ms after the umount); whatever held it let go

            """)
        // Stored and read back as it was; `target_gone` only when true.
        #expect(try HolderReport(json: report.jsonText()) == report)
        #expect(report.jsonText().contains(#""held":false,"target_gone":true,"#))
        #expect(!everyHolderReport().jsonText().contains("target_gone"))
    }
}
