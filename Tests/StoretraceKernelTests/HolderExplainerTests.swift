import Foundation
import Glibc
import Testing

extension KernelTests {
    /// The field note, end to end: a tmpfs `D` under a shared mount, held by
    /// a process in another mount namespace through its cwd. `record --live`
    /// shows `umount2(D) = -1 EBUSY` and `rmdir(D) = -1 EBUSY` each with the
    /// holder right under it; the capture replays the same lines.
    @Suite struct HolderExplainerTests {
        @Test func failedUmountAndRmdirShowTheirHolderLiveAndInReplay() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            let group = try #require(try mountEntry(busy).peerGroup)
            let pid = try node.sleeper("cd \(busy) && exec sleep 60", via: ["/usr/bin/unshare", "-m", "--propagation", "unchanged"])
            let theirs = try mountNamespace(of: pid)
            let capture = node.path + "/busy.stcap"
            let recorder = try RunningCLI(["record", "-o", capture, "--live", "--type", "umount", "--type", "rmdir",
                                           "--pid", "\(getpid())", "--no-ftrace", "--no-uevents", "--no-kmsg"])
            #expect(recorder.waitUntilReady())
            #expect(umount2(busy, 0) == -1 && errno == EBUSY)
            usleep(1_100_000) // one scan per target a second: the rmdir gets its own
            #expect(rmdir(busy) == -1 && errno == EBUSY)
            usleep(600_000)
            let live = recorder.stop()
            #expect(live.status == 0, "\(live.stderr)")

            let lines = live.stdout.split(separator: "\n").map(String.init)
            let held = "  ↳ busy: pid \(pid) (sleep) in mnt:\(theirs), cwd \(busy), on a copy of it (peer group \(group))"
            let umount = try #require(lines.firstIndex { $0.contains("umount2(\"\(busy)\", 0) = -1 EBUSY") }, "\(live.stdout)")
            #expect(lines[umount + 1] == held, "\(live.stdout)")
            let removal = try #require(lines.firstIndex { $0.contains("rmdir(\"\(busy)\") = -1 EBUSY") }, "\(live.stdout)")
            #expect(lines[removal + 1] == held, "\(live.stdout)")

            let replay = try CLI.run(["replay", capture, "--type", "umount", "--type", "rmdir"])
            #expect(replay.status == 0, "\(replay.stderr)")
            #expect(replay.stdout == live.stdout)

            let json = try CLI.run(["replay", capture, "--json", "--type", "umount", "--type", "rmdir"])
            let events = jsonLines(json.stdout)
            let holders = events.filter { $0["type"] as? String == "holders" }
            #expect(holders.count == 2, "\(json.stdout)")
            let first = try #require(holders.first)
            #expect(first["pid"] as? Int == Int(getpid()), "the failed call's process")
            let explains = try #require(first["explains"] as? [String: Any])
            #expect(explains["type"] as? String == "umount")
            let holder = try #require((first["holders"] as? [[String: Any]])?.first)
            #expect(holder["how"] as? String == "cwd")
            #expect(holder["pid"] as? Int == Int(pid))
            #expect(holder["mntns"] as? Int == Int(theirs))
            #expect(holder["via"] as? String == "peer")
        }
    }
}
