import Foundation
import Glibc
import Testing

extension KernelTests {
@Suite struct FlightRecorderTests {
    /// `record --rotate --keep` under a mount storm: exactly N complete files,
    /// each replays alone, the directory replays as one with every call of
    /// the kept span in order, and nothing was lost or left unwritten.
    @Test func rotationKeepsNFilesThatReplayAloneAndAsOne() throws {
        let scratch = Scratch()
        let target = scratch.dir("m")
        // The start of a file (the node snapshot above all) depends on the
        // node: the refusal of a size below it says how large it is.
        // (--type claim: where the kernel refuses the claim tracer, as CI's
        // does, record says so at start, and every file of the ring keeps it.)
        let flags = ["--type", "mount", "--type", "claim", "--pid", "\(getpid())", "--no-ftrace", "--no-uevents", "--no-kmsg",
                     "--no-holders"]
        let probe = try CLI.run(["record", "-o", scratch.dir("probe"), "--rotate", "4K", "--keep", "2"] + flags)
        #expect(probe.status != 0)
        let start = try #require(probe.stderr.components(separatedBy: "give at least ").last
            .flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }, "\(probe.stderr)")
        #expect(probe.stderr.contains("--rotate 4096 bytes is smaller than the start of the capture"))

        let ring = scratch.path + "/ring"
        let size = (start + start / 32 + (160 << 10)) >> 10
        let recorder = try RunningCLI(["record", "-o", ring, "--rotate", "\(size)K", "--keep", "3"] + flags)
        #expect(recorder.waitUntilReady())
        // Storm until the ring has turned over twice (at least 5 files made).
        var calls = 0
        var seen = Set<String>()
        while seen.count < 5 && calls < 40_000 {
            for _ in 0..<200 {
                try check(mount("storm\(calls)", target, "tmpfs", 0, nil), "mount")
                try check(umount2(target, 0), "umount2")
                calls += 1
            }
            seen.formUnion(try FileManager.default.contentsOfDirectory(atPath: ring))
        }
        #expect(seen.count >= 5)
        usleep(300_000)
        let live = recorder.stop()
        #expect(live.status == 0, "\(live.stderr)")
        #expect(live.stderr.contains("storetrace: \(calls) events recorded (\(calls) traced), 0 lost"), "\(live.stderr)")

        let said = live.stderr.split(separator: "\n").filter { $0.hasPrefix("storetrace: not tracing") }
            .map { String($0.dropFirst("storetrace: ".count)) }
        if ProcessInfo.processInfo.environment["CI"] == "true" { #expect(!said.isEmpty, "\(live.stderr)") }
        func saidAtStart(_ info: String) -> [String] {
            info.split(separator: "\n").filter { $0.hasPrefix("said at start ") }
                .map { String($0.dropFirst("said at start".count).drop { $0 == " " }) }
        }

        let files = try FileManager.default.contentsOfDirectory(atPath: ring).sorted().map { ring + "/" + $0 }
        #expect(files.count == 3, "\(files)")
        #expect(files.allSatisfy { $0.hasSuffix(".stcap") && $0.contains("/storetrace-") })
        // Each is a complete capture on its own, its calls in order.
        var alone = ""
        for file in files {
            let info = try CLI.run(["info", file])
            #expect(info.stdout.contains("complete: closed cleanly"), "\(file): \(info.stdout)")
            #expect(info.stdout.contains("snapshot: host"))
            #expect(saidAtStart(info.stdout) == said, "\(file): \(info.stdout)")
            let replay = try CLI.run(["replay", file, "--json", "--strict"])
            #expect(replay.status == 0, "\(file): \(replay.stderr)")
            #expect(!replay.stdout.isEmpty)
            alone += replay.stdout
        }
        // The directory is those files, one after the other: no gap, no repeat.
        let together = try CLI.run(["replay", ring, "--json"])
        #expect(together.status == 0, "\(together.stderr)")
        #expect(together.stdout == alone)
        let sources = jsonLines(together.stdout).filter { $0["type"] as? String == "mount" }.compactMap { ($0["source"] as? String).flatMap { Int($0.dropFirst("storm".count)) } }
        let first = try #require(sources.first)
        #expect(first > 0, "the oldest files were removed")
        #expect(sources == Array(first..<calls))

        let info = try CLI.run(["info", ring])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdout.contains("capture  3 files") || info.stdout.hasPrefix("capture "))
        #expect(info.stdout.contains("storetrace.syscall v1"))
        let counted = info.stdout.split(separator: "\n").first { $0.hasPrefix("  storetrace.syscall v1") }
        #expect(counted?.split(separator: " ").last == "\(calls - first)"[...], "\(info.stdout)")
        #expect(info.stdout.contains("drops ") && info.stdout.contains(" none"), "\(info.stdout)")
        #expect(saidAtStart(info.stdout) == said, "listed once for the ring: \(info.stdout)")
    }

    @Test func rotationOptionsAreCheckedOnOneLine() throws {
        let alone = try CLI.run(["record", "--rotate", "64M"])
        #expect(alone.status != 0)
        #expect(alone.stderr.contains("--rotate and --keep go together"))
        let both = try CLI.run(["record", "--rotate", "64M", "--keep", "4", "--max-size", "1G"])
        #expect(both.stderr.contains("give one of them"))
        let unit = try CLI.run(["record", "--rotate", "64", "--keep", "4"])
        #expect(unit.status != 0)
        #expect(unit.stderr.contains("invalid for '--rotate <size>'"))
        let scratch = Scratch()
        let file = scratch.path + "/plain"
        FileManager.default.createFile(atPath: file, contents: Data())
        let notDirectory = try CLI.run(["record", "-o", file, "--rotate", "64M", "--keep", "4"])
        #expect(notDirectory.status == 1)
        #expect(notDirectory.stderr.contains("not a directory"))
        let empty = try CLI.run(["replay", scratch.dir("empty")])
        #expect(empty.status == 1)
        #expect(empty.stderr.contains("a directory without .stcap files"))
    }
}
}
