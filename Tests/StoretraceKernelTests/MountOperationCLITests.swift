import Foundation
import Glibc
import Testing

extension KernelTests {
    /// mount_op end to end: `record --live` while a process makes a
    /// new-API tmpfs mount, a bind through open_tree, a read-only remount
    /// through fspick and a failing create; the operations print as one line
    /// each, live, and replay of the capture derives the same lines.
    @Suite struct MountOperationCLITests {
        @Test func newAPIOperationsLiveAndInReplay() throws {
            // The calls print too; each operation follows the call that ended it.
            let scratch = Scratch()
            let first = scratch.dir("a"), second = scratch.dir("b")
            let capture = scratch.path + "/ops.stcap"
            let recorder = try RunningCLI(["record", "-o", capture, "--live", "--no-ftrace", "--no-uevents", "--no-kmsg"])
            #expect(recorder.waitUntilReady())
            let script = """
                import ctypes, os
                libc = ctypes.CDLL(None, use_errno=True)
                s = libc.syscall
                fd = s(430, b"tmpfs", 1)                                  # fsopen
                s(431, fd, 1, b"size", b"16m", 0)                         # FSCONFIG_SET_STRING
                s(431, fd, 6, None, None, 0)                              # FSCONFIG_CMD_CREATE
                m = s(432, fd, 1, 0)                                      # fsmount
                s(429, m, b"", -100, b"\(first)", 4)                      # move_mount, MOVE_MOUNT_F_EMPTY_PATH
                t = s(428, -100, b"\(first)", 1 | 0x80000)                # open_tree, OPEN_TREE_CLONE
                s(429, t, b"", -100, b"\(second)", 4)
                p = s(433, -100, b"\(second)", 0)                         # fspick
                s(431, p, 0, b"ro", None, 0)                              # FSCONFIG_SET_FLAG
                s(431, p, 7, None, None, 0)                               # FSCONFIG_CMD_RECONFIGURE
                bad = s(430, b"tmpfs", 1)
                s(431, bad, 1, b"huge", b"sometimes-not", 0)              # rejected: EINVAL
                print(bad)
                """
            let python = Process()
            python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            python.arguments = ["-c", script]
            let output = Pipe()
            python.standardOutput = output
            try python.run()
            let badFD = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            python.waitUntilExit()
            #expect(python.terminationStatus == 0)
            umount2(second, 0)
            umount2(first, 0)
            usleep(300_000)
            let live = recorder.stop()
            #expect(live.status == 0, "\(live.stderr)")
            let mine = live.stdout.split(separator: "\n").map(String.init)
                .filter { $0.contains("python3[\(python.processIdentifier)]") && $0.contains("mount_op: ") }
            let words = mine.map { $0.components(separatedBy: "mount_op: ").last ?? "" }
            #expect(words == [
                "new mount of tmpfs on \"\(first)\" with size=16m (fsopen, fsconfig ×2, fsmount, move_mount) = ok",
                "bind of \"\(first)\" on \"\(second)\" (open_tree, move_mount) = ok",
                "remount of \"\(second)\" with ro (fspick, fsconfig ×2) = ok",
                "new mount of tmpfs (fsopen, fsconfig) failed at fsconfig(\(badFD), FSCONFIG_SET_STRING, \"huge\", \"sometimes-not\", 0) = -1 EINVAL",
            ], "\(live.stdout)")

            let replay = try CLI.run(["replay", capture, "--ops"])
            #expect(replay.status == 0, "\(replay.stderr)")
            #expect(replay.stdout.split(separator: "\n").map(String.init).filter { $0.contains("python3[\(python.processIdentifier)]") } == mine)
        }
    }
}
