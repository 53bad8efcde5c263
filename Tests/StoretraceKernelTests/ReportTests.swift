import Foundation
import Glibc
import StoretraceFixtures
import StoretraceKernel
import Testing

/// `storetrace report` as a user runs it: what it says when the capture or
/// the output is not right (one line, where, non-zero), and the page of a
/// stuck umount recorded here, opened in headless Chromium.
@Suite struct ReportCLITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("StoretraceSessionTests/Fixtures").path

    @Test func aMissingOrCorruptCaptureIsOneLineSayingWhere() throws {
        let scratch = Scratch()
        let missing = try CLI.run(["report", scratch.path + "/none.stcap", "-o", scratch.path + "/x.html"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "storetrace: \(scratch.path)/none.stcap: cannot open: No such file or directory (errno 2)\n")
        let junk = scratch.path + "/junk.stcap"
        try Data("not a capture at all, just some bytes".utf8).write(to: URL(fileURLWithPath: junk))
        let corrupt = try CLI.run(["report", junk, "-o", scratch.path + "/x.html"])
        #expect(corrupt.status == 1)
        #expect(corrupt.stderr == "storetrace: \(junk): offset 0: not a storetrace capture (bad magic: 6e 6f 74 20 61 20 63 61)\n")
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/x.html"))
    }

    /// A capture cut short is reported up to the cut, which stderr and the page name.
    @Test func aTornCaptureIsReportedUpToWhereItWasCut() throws {
        let scratch = Scratch()
        let whole = try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/attach.stcap"))
        let cut = scratch.path + "/cut.stcap"
        try whole.prefix(40_000).write(to: URL(fileURLWithPath: cut))
        let page = scratch.path + "/cut.html"
        let result = try CLI.run(["report", cut, "-o", page])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first == "storetrace: \(cut): torn tail at offset 38280: incomplete chunk 2: 3824 bytes expected, 1720 present; the report covers every complete chunk before it")
        #expect(lines.last?.hasPrefix("storetrace: wrote \(page) (") == true)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("; torn tail at offset 38280: incomplete chunk 2: 3824 bytes expected, 1720 present</td>"))
    }

    /// Written beside the output and renamed: a failed write leaves nothing,
    /// an existing page is replaced whole.
    @Test func theOutputIsWrittenWholeOrNotAtAll() throws {
        let scratch = Scratch()
        let capture = Self.fixtures + "/attach.stcap"
        let nowhere = try CLI.run(["report", capture, "-o", scratch.path + "/no/such/dir/x.html"])
        #expect(nowhere.status == 1)
        #expect(nowhere.stderr == "storetrace: cannot write \(scratch.path)/no/such/dir/x.html: ENOENT (No such file or directory)\n")
        let page = scratch.path + "/attach.html"
        try Data("old".utf8).write(to: URL(fileURLWithPath: page))
        let written = try CLI.run(["report", capture, "-o", page])
        #expect(written.status == 0, "\(written.stderr)")
        #expect(written.stderr.hasPrefix("storetrace: wrote \(page) (") && written.stderr.hasSuffix(" KiB): 3 findings, 16 lanes, 133 events of 133 read\n"),
                "\(written.stderr)")
        #expect(try String(contentsOfFile: page, encoding: .utf8).hasPrefix("<!DOCTYPE html>"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["attach.html"], "no temporary file left")
    }
}

extension KernelTests {
    /// The field note as a page: a tmpfs held through its peer copy in
    /// another mount namespace by a process's cwd, so umount2 fails with
    /// EBUSY; `record` captures the call and the holder scan's answer, and
    /// the report of the capture, opened in Chromium, has the failure as a
    /// finding with its holder, linked to its red mark in the process's lane.
    @Suite struct ReportKernelTests {
        /// What `record` said as it started is in the capture, so `info` and
        /// the report say why a source is missing wherever the capture is
        /// read. Here the claim tracer is refused (this kernel refuses fexit
        /// and has no kprobes); where the kernel allows it, nothing is said.
        @Test func whatTheKernelRefusedAtStartIsSaidByInfoAndTheReport() throws {
            let expected: String?
            do {
                let tracer = try ClaimTracer()
                tracer.close()
                expected = nil
            } catch {
                expected = error.notice
            }
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                #expect(expected != nil, "CI's kernel refuses fexit and has no kprobes: the claim tracer should be refused")
            }
            let scratch = Scratch()
            let capture = scratch.path + "/refused.stcap"
            let recorder = try RunningCLI(["record", "-o", capture, "--type", "mount", "--type", "claim", "--pid", "\(getpid())",
                                           "--no-ftrace", "--no-uevents", "--no-kmsg"])
            #expect(recorder.waitUntilReady())
            let recorded = recorder.stop()
            #expect(recorded.status == 0, "\(recorded.stderr)")
            let said = recorded.stderr.split(separator: "\n").filter { $0.hasPrefix("storetrace: not tracing") }.map(String.init)
            #expect(said == (expected.map { ["storetrace: " + $0] } ?? []), "\(recorded.stderr)")

            let info = try CLI.run(["info", capture])
            #expect(info.status == 0, "\(info.stderr)")
            let lines = info.stdout.split(separator: "\n").filter { $0.hasPrefix("said at start ") }
                .map { $0.dropFirst("said at start".count).drop { $0 == " " } }
            #expect(lines.map(String.init) == (expected.map { [$0] } ?? []), "\(info.stdout)")

            let page = scratch.path + "/refused.html"
            let report = try CLI.run(["report", capture, "-o", page])
            #expect(report.status == 0, "\(report.stderr)")
            let html = try String(contentsOfFile: page, encoding: .utf8)
            if let expected {
                let escaped = expected.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                    .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
                #expect(html.contains("<th>said at start</th><td colspan=\"5\">" + escaped + "</td>"), "\(expected)")
                #expect(html.contains("(what the kernel refused is said below; a source not named there was off)"))
            } else {
                #expect(!html.contains("<th>said at start</th>"))
            }
        }

        @Test func aStuckUmountIsAFindingWithItsHolder() throws {
            let node = BusyNode()
            let (busy, group, pid, theirs) = try node.heldInAnotherNamespace()
            let capture = node.path + "/stuck.stcap"
            let recorder = try RunningCLI(["record", "-o", capture, "--type", "umount", "--pid", "\(getpid())",
                                           "--no-ftrace", "--no-uevents", "--no-kmsg"])
            #expect(recorder.waitUntilReady())
            #expect(umount2(busy, 0) == -1 && errno == EBUSY)
            usleep(600_000) // the scan runs off the per-event path, within 200 ms
            let recorded = recorder.stop()
            #expect(recorded.status == 0, "\(recorded.stderr)")

            let page = node.path + "/stuck.html"
            let report = try CLI.run(["report", capture, "-o", page])
            #expect(report.status == 0, "\(report.stderr)")
            #expect(report.stderr.hasPrefix("storetrace: wrote \(page) ("), "\(report.stderr)")
            #expect(report.stderr.contains(": 1 finding, 1 lane, "), "\(report.stderr)")

            let load = try HeadlessChromium.load(page)
            #expect(load.console.isEmpty, "\(load.console)")
            #expect(load.dom.contains("data-js=\"ready\""))
            // The call's comm is its thread's, as the kernel names it.
            let me = try String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8).trimmingCharacters(in: .newlines)
            let call = "umount2(\"\(busy)\", 0) = -1 EBUSY</pre>"
            // (A line of what the scan skipped may follow: pid 1's namespace is unreadable in some VMs.)
            let holder = "<pre class=\"why\">  ↳ busy: pid \(pid) (sleep) in mnt:\(theirs), cwd \(busy), on a copy of it (peer group \(group))"
            let finding = try #require(load.dom.range(of: call), "\(load.dom)")
            let end = try #require(load.dom[finding.lowerBound...].range(of: "</article>"))
            let body = load.dom[finding.lowerBound..<end.upperBound]
            #expect(body.contains(holder), "\(body)")
            #expect(body.contains("mount_op: unmount of \"\(busy)\" (umount2) failed at umount2(\"\(busy)\", 0) = -1 EBUSY</pre>"))
            #expect(body.contains(", lane \(me)[\(getpid())]</a>"), "\(body)")
            // The lane, red, with the mark the finding links to.
            #expect(load.dom.contains("<text class=\"lane bad\""))
            #expect(load.dom.contains("</title>\(me)[\(getpid())]</text>"))
            #expect(load.dom.contains("<rect id=\"m2-0\" class=\"z fail\""))
            #expect(body.contains("<a href=\"#m2-0\">"))
        }
    }
}
