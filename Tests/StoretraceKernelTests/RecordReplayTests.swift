import CStoretraceSys
import Foundation
import Glibc
import StoretraceFixtures
import Testing
@testable import StoretraceKernel

/// A storetrace process running in the background, as a user starts one.
final class RunningCLI {
    let process = Process()
    let out = Pipe(), err = Pipe()
    private(set) var stderrText = ""

    /// `wrapper` (unshare, setpriv...) runs the binary, given as its next argument.
    init(_ arguments: [String], via wrapper: [String] = []) throws {
        let command = wrapper + [CLI.executable] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.standardOutput = out
        process.standardError = err
        try process.run()
    }

    /// Waits for the "Ctrl-C to stop" line: everything is attached.
    func waitUntilReady(seconds: Double = 20) -> Bool {
        var status = Data()
        let deadline = Date().addingTimeInterval(seconds)
        while !String(decoding: status, as: UTF8.self).contains("Ctrl-C to stop"), Date() < deadline, process.isRunning {
            status.append(err.fileHandleForReading.availableData)
        }
        stderrText += String(decoding: status, as: UTF8.self)
        return stderrText.contains("Ctrl-C to stop")
    }

    private var stdoutSoFar = Data()

    /// Reads stdout while the process runs until `count` lines came or
    /// `seconds` passed; what was read is also part of `stop()`'s stdout.
    func readLines(count: Int, seconds: Double) -> [Substring] {
        let fd = out.fileHandleForReading.fileDescriptor
        let deadline = Date().addingTimeInterval(seconds)
        var lines: [Substring] { String(decoding: stdoutSoFar, as: UTF8.self).split(separator: "\n") }
        while lines.count < count, Date() < deadline {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 50) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let got = read(fd, &buffer, buffer.count)
            if got <= 0 { break }
            stdoutSoFar.append(contentsOf: buffer[0..<got])
        }
        return lines
    }

    /// Sends `signal`, then collects stdout and stderr until exit.
    func stop(_ signal: Int32 = SIGTERM) -> (status: Int32, stdout: String, stderr: String) {
        kill(process.processIdentifier, signal)
        let stdout = String(decoding: stdoutSoFar + out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        stderrText += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stdout, stderrText)
    }
}

func run(_ command: String, _ arguments: [String]) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try? process.run()
    process.waitUntilExit()
}

func jsonLines(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

/// The events a source delivered, without the mount operations derived from them.
func callLines(_ text: String) -> [[String: Any]] {
    jsonLines(text).filter { $0["type"] as? String != "mount_op" }
}

extension KernelTests {
@Suite struct RecordReplayTests {
    /// Record with --live --json, replay --json: the same events print the same bytes.
    @Test func recordThenReplayPrintsWhatLiveShowed() throws {
        let scratch = Scratch()
        let source = scratch.dir("src"), target = scratch.dir("dst")
        let capture = scratch.path + "/round.stcap"
        let recorder = try RunningCLI(["record", "-o", capture, "--live", "--json", "--type", "mount", "--type", "umount", "--comm", "mount", "--comm", "umount"])
        #expect(recorder.waitUntilReady())
        for _ in 0..<3 {
            run("/bin/mount", ["--bind", source, target])
            run("/bin/umount", [target])
        }
        run("/bin/umount", [target]) // fails: EINVAL
        usleep(300_000)
        let live = recorder.stop()
        #expect(live.status == 0, "\(live.stderr)")
        var mode = stat()
        stat(capture, &mode)
        #expect(mode.st_mode & 0o777 == 0o600)

        // The same filters: `--type` leaves the derived mount_op out in both.
        let replay = try CLI.run(["replay", capture, "--json", "--type", "mount", "--type", "umount"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout == live.stdout)
        let events = jsonLines(replay.stdout).filter { ($0["target"] as? String) == target }
        #expect(events.map { $0["type"] as? String ?? "" } == ["mount", "umount", "mount", "umount", "mount", "umount", "umount"])
        #expect(events.last?["errno"] as? String == "EINVAL")
        #expect(events.first?["source"] as? String == source)
        #expect(events.first?["flags"] as? [String] == ["MS_BIND"])

        // Filters apply to replay too.
        let failed = try CLI.run(["replay", capture, "--json", "--failed"])
        #expect(callLines(failed.stdout).count == 1)
        // And the operation it was, in mount(8)'s words.
        #expect(jsonLines(failed.stdout).filter { $0["type"] as? String == "mount_op" }.map { $0["operation"] as? String } == ["unmount"])

        // The independent reader written from docs/capture-format.md reads
        // the same file: every record, the trailer, a clean end; compressed
        // (format 2.0, record's default), every chunk.
        let reference = Process()
        reference.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        reference.arguments = [TestPython.interpreter, URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/reference_reader.py").standardized.path, capture]
        let referenceOutput = Pipe()
        reference.standardOutput = referenceOutput
        try reference.run()
        let referenceText = String(decoding: referenceOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        reference.waitUntilExit()
        #expect(reference.terminationStatus == 0, "\(referenceText)")
        let syscalls = jsonLines(live.stdout).count
        // Beside the calls: the device tables (type 7), at the start and when
        // a mount changed them, and the cgroup paths of the callers (type 19:
        // the unified root's, and those of processes still there to be asked),
        // and what record said at start (type 20: a source the kernel refused).
        let recordsLine = try #require(referenceText.split(separator: "\n").first { $0.hasPrefix("records ") })
        // "records 9 {1: 6, 7: 2, 19: 1}"
        let total = Int(recordsLine.dropFirst(8).prefix { $0 != " " })
        var counts: [Int: Int] = [:]
        for pair in recordsLine.drop { $0 != "{" }.dropFirst().dropLast().components(separatedBy: ", ") {
            let parts = pair.components(separatedBy: ": ")
            if parts.count == 2, let id = Int(parts[0]), let count = Int(parts[1]) { counts[id] = count }
        }
        #expect(Set(counts.keys).isSubset(of: [1, 7, 19, 20]), "\(recordsLine)")
        let saidAtStart = live.stderr.split(separator: "\n").filter { $0.hasPrefix("storetrace: not ") }.count
        #expect(counts[20] ?? 0 == saidAtStart, "\(recordsLine) \(live.stderr)")
        #expect(counts[1] == syscalls, "\(recordsLine)")
        #expect((counts[7] ?? 0) >= 1, "\(recordsLine)")
        #expect((counts[19] ?? 0) >= 1, "the unified hierarchy's root at least: \(recordsLine)")
        #expect(total == counts.values.reduce(0, +), "\(recordsLine)")
        #expect(referenceText.contains("schema 2: storetrace.ftrace v2 (3 fields)"), "\(referenceText)")
        #expect(referenceText.contains("tail ('complete',"), "\(referenceText)")
        #expect(referenceText.hasPrefix("version 2.0\n"), "\(referenceText)")
        let chunksLine = try #require(referenceText.split(separator: "\n").first { $0.hasPrefix("chunks: ") })
        #expect(!chunksLine.hasPrefix("chunks: 0 "), "\(chunksLine)")

        let info = try CLI.run(["info", capture])
        #expect(info.status == 0)
        #expect(info.stdout.contains("format 2.0\n"))
        #expect(info.stdout.contains(try Regex(#"\ncompression +zstd, [1-9][0-9]* of [0-9]+ chunks: [0-9]+ bytes of records in [0-9]+ \([0-9]+\.[0-9]{2}×\)\n"#)),
                "\(info.stdout)")
        #expect(info.stdout.contains("storetrace.syscall v1"))
        #expect(info.stdout.contains("complete: closed cleanly"))
        #expect(info.stdout.contains("drops "))
        #expect(info.stdout.contains("snapshot: host"))
        let snapshot = try CLI.run(["info", "--snapshot", capture])
        #expect(snapshot.stdout.contains("Mount namespace mnt:"))
        #expect(snapshot.stdout.contains("Block devices"))
    }

    /// Replay names what the start snapshot knew: the owner of the mount
    /// namespace, and the block device of a copy's file with its
    /// read_ahead_kb, read here from sysfs to compare.
    @Test func replayEnrichesFromTheSnapshot() throws {
        let scratch = Scratch()
        let source = scratch.path + "/in.bin", copy = scratch.path + "/out.bin"
        try Data(repeating: 7, count: 65536).write(to: URL(fileURLWithPath: source))
        let capture = scratch.path + "/enriched.stcap"
        let recorder = try RunningCLI(["record", "-o", capture, "--live", "--json", "--type", "copy_file_range", "--comm", "cp"])
        #expect(recorder.waitUntilReady())
        run("/bin/cp", [source, copy])
        usleep(300_000)
        let live = recorder.stop()
        let replay = try CLI.run(["replay", capture, "--json"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout == live.stdout)
        let event = try #require(jsonLines(replay.stdout).first { ($0["file_out"] as? [String: Any])?["name"] as? String == "out.bin" })
        // cp ran in the initial namespace: the host, not a process standing for it.
        let owner = try #require(event["mntns_owner"] as? [String: Any], "\(event)")
        #expect(owner as? [String: String] == ["label": "host"], "\(event)")

        var info = stat()
        #expect(stat(source, &info) == 0)
        let major = (info.st_dev >> 8) & 0xfff, minor = (info.st_dev & 0xff) | ((info.st_dev >> 12) & 0xfff00)
        let sysfs = "/sys/dev/block/\(major):\(minor)"
        let fileIn = try #require(event["file_in"] as? [String: Any])
        #expect(fileIn["dev"] as? String == "\(major):\(minor)")
        guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: sysfs) else {
            // /tmp on tmpfs or overlay: no block device to name.
            #expect(fileIn["block_device"] is NSNull)
            return
        }
        let name = URL(fileURLWithPath: link).lastPathComponent
        #expect(fileIn["block_device"] as? String == name)
        let partition = FileManager.default.fileExists(atPath: sysfs + "/partition")
        let queue = partition ? sysfs + "/../queue/read_ahead_kb" : sysfs + "/queue/read_ahead_kb"
        let readAhead = try String(contentsOfFile: queue, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(fileIn["read_ahead_kb"] as? Int == Int(readAhead))
    }

    /// ftrace records carry only the thread id: live names the process and
    /// the thread from /proc, stores them in the capture, and replay prints
    /// the same. The mkdir (x86-64 glibc: the mkdir syscall, not mkdirat) is
    /// made from a test worker thread (tid != pid).
    @Test func tracepointEventsNameTheirThreadLiveAndInReplay() throws {
        let scratch = Scratch()
        let capture = scratch.path + "/tasks.stcap"
        let recorder = try RunningCLI(["record", "-o", capture, "--live", "--json", "--type", "tracepoint",
                                       "--event", "syscalls:sys_enter_mkdir", "--pid", "\(getpid())"])
        #expect(recorder.waitUntilReady())
        let tid = Int(st_gettid())
        let comm = try String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(mkdir(scratch.path + "/made-by-the-test", 0o755) == 0)
        usleep(300_000)
        let live = recorder.stop()
        #expect(live.status == 0, "\(live.stderr)")
        let events = jsonLines(live.stdout).filter { $0["event"] as? String == "syscalls:sys_enter_mkdir" }
        let mine = try #require(events.first { $0["tid"] as? Int == tid }, "\(live.stdout)")
        #expect(mine["pid"] as? Int == Int(getpid()))
        #expect(mine["comm"] as? String == comm)
        #expect(events.allSatisfy { $0["pid"] as? Int == Int(getpid()) }, "--pid filters by process")

        let replay = try CLI.run(["replay", capture, "--json"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout == live.stdout)
    }

    /// The disk fills while recording: storetrace stops with one line naming
    /// the offset, counts the events it could not write, and every event it
    /// says it recorded replays.
    @Test func fullDiskStopsAndKeepsEveryFlushedEvent() throws {
        let scratch = Scratch()
        let small = scratch.dir("small")
        try check(mount("tmpfs", small, "tmpfs", 0, "size=256k"), "mount tmpfs")
        let notMounted = scratch.dir("plain")
        let capture = small + "/full.stcap"
        let recorder = try RunningCLI(["record", "-o", capture, "--type", "umount", "--pid", "\(getpid())",
                                       "--flush-interval", "20ms"])
        #expect(recorder.waitUntilReady())
        var calls = 0
        while recorder.process.isRunning && calls < 100_000 {
            for _ in 0..<100 { _ = umount2(notMounted, 0) } // EINVAL, about 250 bytes of records each, ~10 compressed
            calls += 100
            usleep(20_000)
        }
        let result = recorder.stop(SIGINT)
        #expect(result.status == 1, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.last?.hasPrefix("storetrace: \(capture): disk full while writing chunk at offset ") == true, "\(result.stderr)")
        let summary = try #require(lines.first { $0.contains("events recorded") }, "\(result.stderr)")
        #expect(summary.contains("not written to the capture"))
        #expect(summary.contains("stopped by a full disk"))
        let recorded = Int(summary.split(separator: " ")[1])!
        #expect(recorded > 0)

        let replay = try CLI.run(["replay", capture, "--json"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(callLines(replay.stdout).count == recorded)
        #expect(replay.stderr.contains("not closed cleanly"), "\(replay.stderr)")
    }

    /// `--compress none` writes format 1.0, which storetrace versions from
    /// before compression read: the same events, uncompressed chunks.
    @Test func recordWithoutCompressionWritesFormatOne() throws {
        let scratch = Scratch()
        let source = scratch.dir("src"), target = scratch.dir("dst")
        let capture = scratch.path + "/plain.stcap"
        let recorder = try RunningCLI(["record", "-o", capture, "--compress", "none", "--live", "--json",
                                       "--type", "mount", "--type", "umount", "--comm", "mount", "--comm", "umount"])
        #expect(recorder.waitUntilReady())
        run("/bin/mount", ["--bind", source, target])
        run("/bin/umount", [target])
        usleep(300_000)
        let live = recorder.stop()
        #expect(live.status == 0, "\(live.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: capture))
        #expect(bytes[8] == 1 && bytes[9] == 0)
        let replay = try CLI.run(["replay", capture, "--json", "--type", "mount", "--type", "umount"])
        #expect(replay.stdout == live.stdout)
        #expect(callLines(replay.stdout).filter { $0["target"] as? String == target }.count == 2)
        let info = try CLI.run(["info", capture])
        #expect(info.stdout.contains("format 1.0\n"))
        #expect(info.stdout.contains(try Regex(#"\ncompression +none: [0-9]+ bytes of records\n"#)), "\(info.stdout)")
    }

    /// kill -9 while recording: every chunk flushed before is readable.
    @Test func captureSurvivesSIGKILL() throws {
        let scratch = Scratch()
        let source = scratch.dir("src"), target = scratch.dir("dst")
        let capture = scratch.path + "/killed.stcap"
        let tracefsWasMounted = TracefsMount.existing() != nil
        defer {
            // A killed run cannot undo its tracefs mount or instance; the next
            // run removes the instance, and the test puts the mount back as found.
            if let stale = TracefsMount.existing() {
                if let tracefs = try? TracefsMount() { _ = TracefsInstance.removeStale(tracefs: tracefs) }
                if !tracefsWasMounted { umount2(stale, 0) }
            }
        }
        let recorder = try RunningCLI(["record", "-o", capture, "--type", "mount", "--flush-interval", "50ms"])
        #expect(recorder.waitUntilReady())
        for _ in 0..<20 {
            run("/bin/mount", ["--bind", source, target])
            run("/bin/umount", [target])
        }
        sleep(2) // at least one flush
        _ = recorder.stop(SIGKILL)
        let replay = try CLI.run(["replay", capture, "--json"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(callLines(replay.stdout).filter { $0["target"] as? String == target }.count == 20)
        #expect(replay.stderr.contains("not closed cleanly") || replay.stderr.contains("torn tail"), "\(replay.stderr)")
        let info = try CLI.run(["info", capture])
        #expect(info.stdout.contains("unknown: the capture was not closed cleanly"))
    }

    /// A copy cut at any byte replays every complete chunk and says where it was cut.
    @Test func truncatedCopiesReplayUpToTheCut() throws {
        let scratch = Scratch()
        let source = scratch.dir("src"), target = scratch.dir("dst")
        let capture = scratch.path + "/full.stcap"
        let recorder = try RunningCLI(["record", "-o", capture, "--type", "mount", "--flush-interval", "20ms"])
        #expect(recorder.waitUntilReady())
        for round in 0..<6 {
            run("/bin/mount", ["--bind", source, target])
            run("/bin/umount", [target])
            if round % 2 == 1 { usleep(150_000) } // several chunks
        }
        _ = recorder.stop()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: capture))
        let full = try CLI.run(["replay", capture, "--json"]).stdout
        let boundaries = Self.chunkBoundaries(bytes)
        #expect(boundaries.count >= 4, "several chunks: \(boundaries)")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<12 {
            let cut = Int.random(in: 64..<bytes.count, using: &generator)
            // The last chunk boundary at or before the cut: what stays readable.
            let kept = boundaries.last { $0 <= cut } ?? 64
            let copy = scratch.path + "/cut-\(cut).stcap"
            try bytes.prefix(cut).write(to: URL(fileURLWithPath: copy))
            let replay = try CLI.run(["replay", copy, "--json"])
            #expect(replay.status == 0, "cut at \(cut): \(replay.stderr)")
            // Exactly the events of the complete chunks: the replay of the
            // copy cut at that boundary, and a byte prefix of the full replay.
            let atBoundary = scratch.path + "/kept-\(cut).stcap"
            try bytes.prefix(kept).write(to: URL(fileURLWithPath: atBoundary))
            #expect(replay.stdout == (try CLI.run(["replay", atBoundary, "--json"])).stdout, "cut at \(cut)")
            #expect(full.hasPrefix(replay.stdout), "cut at \(cut)")
            // One line naming the offset where the readable part ends.
            let tail = cut == kept
                ? "not closed cleanly: no trailer, data ends at chunk boundary offset \(kept)"
                : "torn tail at offset \(kept): "
            #expect(replay.stderr.hasPrefix("storetrace: \(copy): \(tail)"), "cut at \(cut): \(replay.stderr)")
            #expect(replay.stderr.hasSuffix("; every complete chunk before it was replayed\n"), "cut at \(cut): \(replay.stderr)")
            #expect(replay.stderr.split(separator: "\n").count == 1, "cut at \(cut): \(replay.stderr)")
        }
    }

    /// File offsets where chunks start (docs/capture-format.md: the header's
    /// length at offset 12, each chunk 48 header bytes plus its payloadLength
    /// at offset 16), and the end of the last complete chunk.
    static func chunkBoundaries(_ bytes: Data) -> [Int] {
        func u32(_ offset: Int) -> Int {
            bytes.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) }
        }
        var offset = u32(12)
        var boundaries = [offset]
        while offset + 48 <= bytes.count {
            offset += 48 + u32(offset + 16)
            guard offset <= bytes.count else { break }
            boundaries.append(offset)
        }
        return boundaries
    }

    @Test func corruptAndHostileFilesGetOneLine() throws {
        let scratch = Scratch()
        let notCapture = scratch.path + "/text.stcap"
        try Data("hello, this is not a capture file at all......................................".utf8).write(to: URL(fileURLWithPath: notCapture))
        let wrongMagic = try CLI.run(["replay", notCapture])
        #expect(wrongMagic.status == 1)
        #expect(wrongMagic.stderr.hasPrefix("storetrace: \(notCapture): "))
        #expect(wrongMagic.stderr.contains("offset 0"))
        #expect(wrongMagic.stderr.split(separator: "\n").count == 1)

        let empty = scratch.path + "/empty.stcap"
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let truncated = try CLI.run(["info", empty])
        #expect(truncated.status == 1)
        #expect(truncated.stderr.split(separator: "\n").count == 1)

        let missing = try CLI.run(["replay", scratch.path + "/nope.stcap"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "storetrace: \(scratch.path)/nope.stcap: cannot open: No such file or directory (errno 2)\n")

        // An existing file is not replaced unless asked, and the line says how.
        let existing = try CLI.run(["record", "-o", notCapture, "--duration", "100ms"])
        #expect(existing.status == 1)
        #expect(existing.stderr == "storetrace: \(notCapture): file exists (refusing to overwrite); add --force to replace it\n")
        #expect(try Data(contentsOf: URL(fileURLWithPath: notCapture)).starts(with: Data("hello".utf8)), "left as it was")

        // A future major version: refused by name, not misread.
        var fixture = try Data(contentsOf: URL(fileURLWithPath: RecordReplayTests.fixture))
        fixture[8] = 99
        let future = scratch.path + "/future.stcap"
        try fixture.write(to: URL(fileURLWithPath: future))
        let unsupported = try CLI.run(["replay", future])
        #expect(unsupported.status == 1)
        #expect(unsupported.stderr == "storetrace: \(future): offset 8: unsupported capture format version 99.0 (this reader reads major versions 1 to 2; a newer storetrace is needed)\n")

        // A flipped byte in the middle: that chunk is skipped and named, the rest reads.
        let original = try Data(contentsOf: URL(fileURLWithPath: RecordReplayTests.fixture))
        var damaged = original
        damaged[damaged.count / 2] ^= 0xff
        let flipped = scratch.path + "/flipped.stcap"
        try damaged.write(to: URL(fileURLWithPath: flipped))
        let replay = try CLI.run(["replay", flipped, "--json"])
        #expect(replay.status == 0)
        // The flipped byte is in chunk 1 (bytes 25512..<26192 of the fixture's
        // 51952), which holds its three events; chunks 0 and 2 hold the
        // schemas and the node snapshots.
        let boundaries = Self.chunkBoundaries(original)
        #expect(boundaries == [64, 25512, 26192, 51952])
        #expect(replay.stderr == "storetrace: \(flipped): skipped damaged data at offset 25512: chunk 1 payload checksum mismatch (stored 0xb7865f7d, computed 0x8ba0ccbc) (680 bytes skipped)\n")
        #expect(callLines(try CLI.run(["replay", RecordReplayTests.fixture, "--json"]).stdout).count == 3)
        #expect(replay.stdout == "")
    }

    /// Its replay is checked by GoldenReplayTests; here it is damaged.
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../StoretraceSessionTests/Fixtures/capture-v1.0.stcap").standardized.path

    /// replay --follow shows events of a capture still being recorded, and
    /// ends when the recorder closes it.
    @Test func followsAGrowingCapture() throws {
        let scratch = Scratch()
        let source = scratch.dir("src"), target = scratch.dir("dst")
        let capture = scratch.path + "/growing.stcap"
        let recorder = try RunningCLI(["record", "-o", capture, "--type", "mount", "--flush-interval", "20ms"])
        #expect(recorder.waitUntilReady())
        let follower = try RunningCLI(["replay", capture, "--follow", "--json"])
        run("/bin/mount", ["--bind", source, target])
        run("/bin/umount", [target])
        sleep(1)
        _ = recorder.stop()
        // The trailer ends the follow by itself.
        let deadline = Date().addingTimeInterval(10)
        while follower.process.isRunning && Date() < deadline { usleep(50_000) }
        #expect(!follower.process.isRunning, "follow did not end at the trailer")
        let result = follower.stop(SIGINT)
        #expect(jsonLines(result.stdout).contains { $0["target"] as? String == target && $0["type"] as? String == "mount" })
    }
}
}
