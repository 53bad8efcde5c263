import Foundation
import Glibc
import Testing

extension KernelTests {
    /// A disk re-attach told by its uevents: a loop device attached to an
    /// image says which file backs it, its detach says it has none, live
    /// and in replay; a uevent of a subsystem the filter leaves out is
    /// counted in the summary, not taken for a loss.
    @Suite struct UeventContextTests {
        @Test func loopAttachAndDetachNameTheBackingFileLiveAndInReplay() throws {
            let scratch = Scratch()
            let image = scratch.path + "/disk image.img" // a space, as real paths have
            let fd = try check(open(image, O_CREAT | O_RDWR | O_CLOEXEC, 0o600), "create \(image)")
            try check(ftruncate(fd, 8 << 20), "ftruncate")
            close(fd)
            let capture = scratch.path + "/attach.stcap"
            let recorder = try RunningCLI(["record", "-o", capture, "--live", "--json", "--type", "uevent",
                                           "--no-ftrace", "--no-kmsg"])
            #expect(recorder.waitUntilReady())
            let device = try runCommand("/usr/sbin/losetup", ["-f", "--show", image])
            defer { _ = try? runCommand("/usr/sbin/losetup", ["-d", device]) }
            let name = String(device.dropFirst("/dev/".count))
            usleep(200_000)
            _ = try runCommand("/usr/sbin/losetup", ["-d", device])
            // A uevent of subsystem "mem", which the default filter leaves out.
            let null = try check(open("/sys/class/mem/null/uevent", O_WRONLY | O_CLOEXEC), "open null's uevent")
            #expect(write(null, "change", 6) == 6)
            close(null)
            usleep(600_000)
            let live = recorder.stop()
            #expect(live.status == 0, "\(live.stderr)")

            let ours = jsonLines(live.stdout).filter { $0["devname"] as? String == name && $0["action"] as? String == "change" }
            let loops = ours.compactMap { $0["loop"] as? [String: Any] }
            #expect(loops.count == ours.count && ours.count >= 2, "\(live.stdout)")
            #expect(loops.first?["backing_file"] as? String == image, "\(live.stdout)")
            #expect(loops.first?["offset"] as? Int == 0)
            #expect(loops.last?["backing_file"] is NSNull, "the detach: no file behind it")
            let properties = try #require(ours.first?["properties"] as? [String: String])
            #expect(properties["STORETRACE_LOOP_BACKING_FILE"] == image)

            // The summary counts what the filter left out; nothing is lost.
            let summary = try #require(live.stderr.split(separator: "\n").last { $0.hasPrefix("storetrace: ") })
            #expect(summary.contains(", 0 lost"), "\(summary)")
            let phrase = " uevents of other subsystems left out (--subsystem all shows them)"
            let leftOut = summary.range(of: phrase).map { Int(summary[..<$0.lowerBound].reversed().prefix { $0.isNumber }.reversed().map(String.init).joined()) ?? 0 } ?? 0
            #expect(leftOut >= 1, "\(summary)")

            let replay = try CLI.run(["replay", capture, "--type", "uevent"])
            #expect(replay.status == 0, "\(replay.stderr)")
            let lines = replay.stdout.split(separator: "\n").filter { $0.contains(" change block \(name) ") }
            #expect(lines.first?.hasSuffix(" backing=\(image)") == true, "\(replay.stdout)")
            #expect(lines.last?.hasSuffix(" detached") == true, "\(replay.stdout)")
        }
    }
}
