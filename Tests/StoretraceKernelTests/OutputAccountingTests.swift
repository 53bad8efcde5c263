import Foundation
import Glibc
import Testing
@testable import StoretraceKernel

@Suite(.serialized) struct OutputAccountingTests {
    /// stdout is a file on a 64 KiB tmpfs: once it is full, the summary
    /// counts as shown exactly the events whose lines are in the file, says
    /// how many were not written and why, and the file ends with a whole line.
    @Test func fullStdoutCountsWhatWasWritten() throws {
        let scratch = Scratch()
        let small = scratch.dir("small-out")
        try check(mount("tmpfs", small, "tmpfs", 0, "size=64k"), "mount tmpfs")
        defer { umount2(small, Int32(MNT_DETACH)) }
        let outputPath = small + "/events.json"
        let output = FileHandle(forWritingAtPath: try {
            FileManager.default.createFile(atPath: outputPath, contents: nil)
            return outputPath
        }())!
        let notMounted = scratch.dir("plain")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = ["live", "--json", "--type", "umount", "--pid", "\(getpid())"]
        process.standardOutput = output
        let err = Pipe()
        process.standardError = err
        try process.run()
        var status = Data()
        let deadline = Date().addingTimeInterval(20)
        while !String(decoding: status, as: UTF8.self).contains("Ctrl-C to stop"), Date() < deadline {
            status.append(err.fileHandleForReading.availableData)
        }
        var calls = 0
        while process.isRunning && calls < 200_000 {
            for _ in 0..<200 { _ = umount2(notMounted, 0) } // EINVAL, a ~200-byte line each
            calls += 200
            usleep(10_000)
        }
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        status.append(err.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        try output.close()
        let stderr = String(decoding: status, as: UTF8.self)
        #expect(process.terminationStatus == 1, "\(stderr)")

        let written = try #require(FileManager.default.contents(atPath: outputPath))
        #expect(written.count > 32 * 1024 && written.count <= 64 * 1024)
        #expect(written.last == UInt8(ascii: "\n"), "the file ends with a whole line")
        let lines = String(decoding: written, as: UTF8.self).split(separator: "\n")
        #expect(jsonLines(String(decoding: written, as: UTF8.self)).count == lines.count, "every line is whole JSON")
        let summary = try #require(stderr.split(separator: "\n").first { $0.contains("events shown") }, "\(stderr)")
        let shown = Int(summary.split(separator: " ")[1])
        #expect(shown == lines.count, "\(summary)")
        #expect(summary.contains(" not written to the output (ENOSPC)"), "\(summary)")
        #expect(summary.contains("stopped by output error"), "\(summary)")
        let unwritten = summary.split(separator: ",").first { $0.contains("not written to the output") }
            .flatMap { Int($0.split(separator: " ")[0]) }
        #expect((unwritten ?? 0) > 0)
    }

    /// A --max-size below what the capture starts with (node snapshot,
    /// schemas, formats) is one line naming both sizes, with ftrace or without.
    @Test func maxSizeBelowTheStartSnapshotIsOneClearLine() throws {
        let scratch = Scratch()
        for extra in [["--type", "umount"], ["--type", "umount", "--type", "tracepoint", "--event", "syscalls:sys_enter_mkdir"]] {
            let capture = scratch.path + "/tiny.stcap"
            let result = try CLI.run(["record", "-o", capture, "--force", "--max-size", "2K", "--duration", "2s"] + extra)
            #expect(result.status == 1, "\(result.stderr)")
            let last = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
            #expect(last.hasPrefix("storetrace: \(capture): --max-size 2048 bytes is smaller than the start of the capture"), "\(result.stderr)")
            let start = last.split(separator: " ").last.flatMap { Int($0) } ?? 0
            #expect(start > 2048, "\(last)")
            #expect(!result.stderr.contains("capture write error"), "\(result.stderr)")
        }
    }
}
