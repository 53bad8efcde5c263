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
            let (busy, group, pid, theirs) = try node.heldInAnotherNamespace()
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

        /// A busy that did not last: umount2 fails with EBUSY, then the file
        /// is closed and the mount goes before the scan runs. The answer is
        /// that it was unmounted since, not the holders of the mount below
        /// (a scan of "/" once named every process on the node). The
        /// recorder is stopped (SIGSTOP) around both calls, so the scan
        /// certainly comes after the unmount.
        @Test func aMountGoneBeforeItsScanIsSaidToBeGone() throws {
            let scratch = Scratch()
            let target = scratch.dir("transient")
            try check(mount("storetrace-transient", target, "tmpfs", 0, nil), "mount")
            let capture = scratch.path + "/gone.stcap"
            let recorder = try RunningCLI(["record", "-o", capture, "--live", "--type", "umount",
                                           "--pid", "\(getpid())", "--no-ftrace", "--no-uevents", "--no-kmsg"])
            #expect(recorder.waitUntilReady())
            let held = open(target + "/held", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
            #expect(held >= 0)
            kill(recorder.process.processIdentifier, SIGSTOP)
            #expect(umount2(target, 0) == -1 && errno == EBUSY)
            close(held)
            // Unmounted by another process, which --pid leaves out: no later
            // line of ours comes between the failed call and its answer.
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [target]
            try umount.run()
            umount.waitUntilExit()
            kill(recorder.process.processIdentifier, SIGCONT)
            #expect(umount.terminationStatus == 0)
            usleep(600_000)
            let live = recorder.stop()
            #expect(live.status == 0, "\(live.stderr)")

            let lines = live.stdout.split(separator: "\n").map(String.init)
            let failed = try #require(lines.firstIndex { $0.contains("umount2(\"\(target)\", 0) = -1 EBUSY") }, "\(live.stdout)")
            let answer = lines[failed + 1]
            #expect(answer.hasPrefix("  ↳ unmounted since: no longer a mount point at the scan ("), "\(live.stdout)")
            #expect(answer.hasSuffix(" after the umount); whatever held it let go"), "\(live.stdout)")
            #expect(!live.stdout.contains("busy: "), "no holder of the mount below: \(live.stdout)")

            let replay = try CLI.run(["replay", capture, "--type", "umount"])
            #expect(replay.status == 0, "\(replay.stderr)")
            #expect(replay.stdout == live.stdout)
            let json = try CLI.run(["replay", capture, "--json", "--type", "umount"])
            let holders = jsonLines(json.stdout).filter { $0["type"] as? String == "holders" }
            #expect(holders.count == 1, "\(json.stdout)")
            let gone = try #require(holders.first)
            #expect(gone["target_gone"] as? Bool == true)
            #expect(gone["held"] as? Bool == false)
            #expect((gone["holders"] as? [Any])?.isEmpty == true)
            #expect((gone["target"] as? [String: Any])?["given"] as? String == target)
        }
    }
}
