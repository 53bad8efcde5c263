import CStoretraceSys
import Foundation
import Glibc
import StoretraceDecode
import StoretraceKernel
import StoretraceRecords
import Testing

/// A session that records (and shows) calls of this test process while
/// `failing` makes them fail, then the replay of its capture: the lines
/// under a failed call must be the same live and in replay.
struct Explained {
    var live: String
    var stderr: String
    var replay: String
    var replayJSON: [[String: Any]]

    init(_ node: BusyNode, types: [String], name: String, _ failing: () throws -> Void) throws {
        let capture = node.path + "/\(name).stcap"
        let types = types.flatMap { ["--type", $0] }
        let recorder = try RunningCLI(["record", "-o", capture, "--live"] + types
                                      + ["--pid", "\(getpid())", "--no-ftrace", "--no-uevents", "--no-kmsg"])
        #expect(recorder.waitUntilReady())
        try failing()
        usleep(600_000) // the scan runs on the loop's 50 ms timer
        let stopped = recorder.stop()
        #expect(stopped.status == 0, "\(stopped.stderr)")
        live = stopped.stdout
        stderr = stopped.stderr
        let text = try CLI.run(["replay", capture] + types)
        #expect(text.status == 0, "\(text.stderr)")
        replay = text.stdout
        let json = try CLI.run(["replay", capture, "--json"] + types)
        #expect(json.status == 0, "\(json.stderr)")
        replayJSON = jsonLines(json.stdout)
    }

    /// The lines right under the first line containing `call`, up to the next event.
    func under(_ call: String) throws -> [String] {
        let lines = live.split(separator: "\n").map(String.init)
        let index = try #require(lines.firstIndex { $0.contains(call) }, "no \(call) in:\n\(live)")
        // "skipped:" notes (a process that exited during the scan) are not holders.
        return Array(lines[(index + 1)...].prefix { $0.hasPrefix("  ↳ ") }.filter { $0.hasPrefix("  ↳ busy: ") })
    }

    /// The holders of the `holders` event of the capture, as JSON.
    var replayedHolders: [[String: Any]] {
        (replayJSON.first { $0["type"] as? String == "holders" }?["holders"] as? [[String: Any]]) ?? []
    }
}

/// `flags` of /proc/PID/fdinfo/FD as open(2) names: what the holder line prints.
func openFlagText(pid: Int32, fd: Int) throws -> String {
    let fdinfo = try String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8)
    let flags = try #require(SnapshotText.fileDescriptorInfo(fdinfo).flags)
    return FlagTables.openFlagNames(UInt64(flags)).joined(separator: "|")
}

extension KernelTests {
    /// Issue 10's remaining cases, each through `record --live` and `replay`
    /// (and the O_EXCL one through `live --json` too): the holder right under
    /// the failed call, exactly.
    @Suite struct BusyExplainedTests {
        // MARK: Block-device claims: traced where the kernel allows, said once where it refuses

        @Test func claimsAreTracedOrTheirRefusalIsSaidOnceAndTheSyscallsStillWork() throws {
            let node = BusyNode()
            let device = try node.loopDevice(backedBy: node.path + "/disk.img")
            var info = stat()
            try check(stat(device, &info), "stat")
            let dev = st_dev_major(UInt64(info.st_rdev)) << 20 | st_dev_minor(UInt64(info.st_rdev))
            let refusal: ClaimRefusal?
            do {
                // A kernel with fexit or kprobes: an O_EXCL open is a claim.
                let tracer = try ClaimTracer()
                defer { tracer.close() }
                refusal = nil
                let fd = open(device, O_RDONLY | O_EXCL | O_CLOEXEC)
                #expect(fd >= 0)
                close(fd)
                var seen: [(dev: UInt32, ret: Int64)] = []
                for _ in 0..<50 where seen.isEmpty {
                    tracer.drain { raw in
                        if let claim = try? ClaimRecord(validating: raw.bytes), claim.pid == UInt32(getpid()) {
                            seen.append((claim.kernelDevice, claim.returnValue))
                        }
                    }
                    usleep(10_000)
                }
                #expect(seen.first?.dev == dev && seen.first?.ret == 0, "\(seen)")
            } catch {
                // This machine: fexit is refused (EPERM) and kprobes are not built.
                refusal = error
                #expect(error.function == "bd_prepare_to_claim", "\(error)")
                #expect(error.reasons.count == 2 && error.reasons[0].hasPrefix("fexit ") && error.reasons[1].hasPrefix("kprobe "),
                        "\(error)")
            }

            // The syscall tracer runs either way; the refusal is one line of stderr.
            let missing = node.path + "/no-such-dir"
            let live = try RunningCLI(["live", "--type", "mount", "--type", "claim", "--pid", "\(getpid())",
                                       "--no-ftrace", "--no-uevents", "--no-kmsg"])
            #expect(live.waitUntilReady())
            #expect(mount("storetrace-claims", missing, "tmpfs", 0, nil) == -1 && errno == ENOENT)
            usleep(300_000)
            let stopped = live.stop()
            #expect(stopped.status == 0, "\(stopped.stderr)")
            #expect(stopped.stdout.contains("mount(\"storetrace-claims\", \"\(missing)\", \"tmpfs\", 0, NULL) = -1 ENOENT"),
                    "\(stopped.stdout)")
            let notices = stopped.stderr.split(separator: "\n").filter { $0.contains("block-device claims") }
            if let refusal {
                #expect(notices.map(String.init) == ["storetrace: " + refusal.notice], "\(stopped.stderr)")
            } else {
                #expect(notices.isEmpty, "\(stopped.stderr)")
            }

            let doctor = try CLI.run(["doctor"])
            let lines = doctor.stdout.split(separator: "\n").filter { $0.hasPrefix("block-device claims ") }
            #expect(lines.count == 1, "\(doctor.stdout)")
            if let refusal {
                #expect(lines.first?.contains("refused ") == true)
                #expect(lines.first?.contains(refusal.description) == true, "\(doctor.stdout)")
            } else {
                #expect(lines.first?.contains("ok ") == true, "\(doctor.stdout)")
            }
        }

        // MARK: mount(2) failing with EBUSY on a busy target

        /// `mount -o remount,ro` of a tmpfs with a file open for writing:
        /// EBUSY, explained by the writer, on the target mount point.
        @Test func busyRemountIsExplainedByTheWriter() throws {
            let node = BusyNode()
            let target = node.scratch.dir("r")
            try check(mount("storetrace-remount", target, "tmpfs", 0, "size=4m"), "mount tmpfs \(target)")
            let writer = try node.sleeper("exec 3>\(target)/log; exec sleep 60")
            let flags = try openFlagText(pid: writer, fd: 3)
            let explained = try Explained(node, types: ["mount"], name: "remount") {
                #expect(mount("storetrace-remount", target, nil, UInt(MS_REMOUNT | MS_RDONLY), nil) == -1 && errno == EBUSY)
            }
            #expect(try explained.under("mount(\"storetrace-remount\", \"\(target)\", NULL, MS_RDONLY|MS_REMOUNT, NULL) = -1 EBUSY")
                    == ["  ↳ busy: pid \(writer) (sleep) in host, fd 3 \(target)/log \(flags), on it"], "\(explained.live)")
            #expect(explained.replay == explained.live)
            let holders = explained.replayedHolders
            #expect(holders.count == 1)
            #expect(holders.first?["how"] as? String == "fd")
            #expect(holders.first?["pid"] as? Int == Int(writer))
            #expect(holders.first?["path"] as? String == target + "/log")
        }

        // MARK: O_EXCL: the field note's second case, end to end

        @Test func exclusiveOpenMakesMountBusyLiveJSONAndRecordReplay() throws {
            let node = BusyNode()
            let device = try node.loopDevice(backedBy: node.path + "/disk.img", ext4: true)
            let pid = try node.python("""
                import os, time
                fd = os.open('\(device)', os.O_RDONLY | os.O_EXCL)
                open('MARKER', 'w').close()
                time.sleep(60)
                """)
            let flags = try openFlagText(pid: pid, fd: 3)
            let mountPoint = node.scratch.dir("m")

            // live --json: the holders event is the line right after the failed mount.
            let live = try RunningCLI(["live", "--json", "--type", "mount", "--pid", "\(getpid())",
                                       "--no-ftrace", "--no-uevents", "--no-kmsg"])
            #expect(live.waitUntilReady())
            #expect(mount(device, mountPoint, "ext4", 0, nil) == -1 && errno == EBUSY)
            usleep(600_000)
            let stopped = live.stop()
            #expect(stopped.status == 0, "\(stopped.stderr)")
            // Where claims are traced, the claim is named too: its line follows the open fd.
            let claimsTraced = !stopped.stderr.contains("not tracing block-device claims")
            let events = jsonLines(stopped.stdout)
            let failed = try #require(events.firstIndex { $0["type"] as? String == "mount" && $0["errno"] as? String == "EBUSY" },
                                      "\(stopped.stdout)")
            #expect(events[failed]["source"] as? String == device)
            let holders = try #require(events.indices.contains(failed + 1) ? events[failed + 1] : nil, "\(stopped.stdout)")
            #expect(holders["type"] as? String == "holders")
            let explains = try #require(holders["explains"] as? [String: Any])
            #expect(explains["type"] as? String == "mount" && explains["pid"] as? Int == Int(getpid()))
            #expect((holders["target"] as? [String: Any])?["given"] as? String == device)
            let found = try #require(holders["holders"] as? [[String: Any]])
            #expect(found.count == (claimsTraced ? 2 : 1), "\(found)")
            let open = try #require(found.first)
            #expect(open["how"] as? String == "open")
            #expect(open["pid"] as? Int == Int(pid))
            #expect(open["comm"] as? String == "python3")
            #expect(open["mntns"] as? Int == Int(hostNamespace))
            #expect(open["fd"] as? Int == 3)
            #expect(open["path"] as? String == device)
            #expect(open["flags"] as? [String] == flags.split(separator: "|").map(String.init))
            if claimsTraced {
                #expect(found.last?["how"] as? String == "claim" && found.last?["pid"] as? Int == Int(pid), "\(found)")
            }

            // record --live, then replay: the same line under the failed call.
            let explained = try Explained(node, types: ["mount"], name: "excl") {
                #expect(mount(device, mountPoint, "ext4", 0, nil) == -1 && errno == EBUSY)
            }
            let held = try explained.under("mount(\"\(device)\", \"\(mountPoint)\", \"ext4\", 0, NULL) = -1 EBUSY")
            #expect(held.first == "  ↳ busy: pid \(pid) (python3) in host, fd 3 \(device) open \(flags)", "\(explained.live)")
            #expect(held.count == (claimsTraced ? 2 : 1), "\(explained.live)")
            if claimsTraced {
                #expect(held.last?.hasPrefix("  ↳ busy: pid \(pid) (python3) in host, claimed \(device) exclusively ") == true)
            }
            #expect(explained.replay == explained.live)
            #expect(explained.replayedHolders.first?["how"] as? String == "open")
            #expect(explained.replayedHolders.first?["pid"] as? Int == Int(pid))
        }

        // MARK: The other scan cases, through record --live and replay

        @Test func openFileAndMapHoldersUnderAFailedUmount() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            try Data(repeating: 0x61, count: 8192).write(to: URL(fileURLWithPath: busy + "/data"))
            try Data(repeating: 0x62, count: 8192).write(to: URL(fileURLWithPath: busy + "/mapped"))
            let reader = try node.sleeper("exec sleep 60 < \(busy)/data")
            let mapper = try node.python("""
                import ctypes, os, time
                libc = ctypes.CDLL(None, use_errno=True)
                libc.mmap.restype = ctypes.c_void_p
                libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
                fd = os.open('\(busy)/mapped', os.O_RDONLY)
                address = libc.mmap(None, 8192, 1, 2, fd, 0)
                os.close(fd)
                open('MARKER', 'w').close()
                time.sleep(60)
                """)
            let flags = try openFlagText(pid: reader, fd: 0)
            let explained = try Explained(node, types: ["umount"], name: "fd-map") {
                #expect(umount2(busy, 0) == -1 && errno == EBUSY)
            }
            let lines = [(reader, "  ↳ busy: pid \(reader) (sleep) in host, fd 0 \(busy)/data \(flags), on it"),
                         (mapper, "  ↳ busy: pid \(mapper) (python3) in host, map \(busy)/mapped, on it")]
            #expect(try explained.under("umount2(\"\(busy)\", 0) = -1 EBUSY") == lines.sorted { $0.0 < $1.0 }.map(\.1), "\(explained.live)")
            #expect(explained.replay == explained.live)
            #expect(Set(explained.replayedHolders.compactMap { $0["how"] as? String }) == ["fd", "map"])
        }

        @Test func chrootedProcessUnderAFailedUmount() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            let pid = try node.python("""
                import os, time
                open('MARKER', 'w').close()
                os.chroot('\(busy)')
                os.chdir('/')
                time.sleep(60)
                """)
            for _ in 0..<200 where (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/root")) != busy {
                usleep(10_000)
            }
            let explained = try Explained(node, types: ["umount"], name: "chroot") {
                #expect(umount2(busy, 0) == -1 && errno == EBUSY)
            }
            #expect(try explained.under("umount2(\"\(busy)\", 0) = -1 EBUSY") == [
                "  ↳ busy: pid \(pid) (python3) in host, cwd \(busy), on it",
                "  ↳ busy: pid \(pid) (python3) in host, root \(busy), on it",
            ], "\(explained.live)")
            #expect(explained.replay == explained.live)
            #expect(explained.replayedHolders.compactMap { $0["how"] as? String } == ["cwd", "root"])
        }

        @Test func submountUnderAFailedUmount() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            let below = busy + "/sub"
            mkdir(below, 0o755)
            try check(mount("storetrace-sub", below, "tmpfs", 0, nil), "mount \(below)")
            let sub = try mountEntry(below)
            let pid = try node.sleeper("cd \(below) && exec sleep 60")
            let explained = try Explained(node, types: ["umount"], name: "submount") {
                #expect(umount2(busy, 0) == -1 && errno == EBUSY)
            }
            #expect(try explained.under("umount2(\"\(busy)\", 0) = -1 EBUSY") == [
                "  ↳ busy: pid \(pid) (sleep) in host, cwd \(below), on a mount below it",
                "  ↳ busy: a mount below it at \(below) in host (mount \(sub.mountID))",
            ], "\(explained.live)")
            #expect(explained.replay == explained.live)
            #expect(explained.replayedHolders.compactMap { $0["how"] as? String } == ["cwd", "submount"])
        }

        @Test func loopBackingFileUnderAFailedUmount() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            let device = try node.loopDevice(backedBy: busy + "/backing.img")
            let explained = try Explained(node, types: ["umount"], name: "loop") {
                #expect(umount2(busy, 0) == -1 && errno == EBUSY)
            }
            #expect(try explained.under("umount2(\"\(busy)\", 0) = -1 EBUSY") == [
                "  ↳ busy: \(device.dropFirst("/dev/".count)) is backed by \(busy)/backing.img, on it",
            ], "\(explained.live)")
            #expect(explained.replay == explained.live)
            #expect(explained.replayedHolders.compactMap { $0["how"] as? String } == ["loop-backing"])
        }
    }
}
