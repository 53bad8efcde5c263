import Foundation
import StoretraceFixtures
import StoretraceSession
import Testing
@testable import StoretraceReport

/// The report of the disk-attach fixture capture, opened in headless
/// Chromium: its script runs under its own Content-Security-Policy without
/// a console message, and the DOM it leaves has the node, the findings and
/// the lanes; a finding's link zooms the timeline to its mark.
@Suite(.serialized) struct ReportInChromiumTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("StoretraceSessionTests/Fixtures/attach.stcap").path

    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.path + "/st-report-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-" + name
    }

    /// What the other tests rely on: a console message is seen.
    @Test func aConsoleMessageIsSeen() throws {
        let page = Self.temporary("console.html")
        defer { unlink(page) }
        try "<!DOCTYPE html><html><body><script>console.error('seen by the test')</script></body></html>"
            .write(toFile: page, atomically: true, encoding: .utf8)
        let load = try HeadlessChromium.load(page)
        #expect(load.console.contains { $0.contains("seen by the test") }, "\(load.stderr)")
    }

    @Test func theAttachCaptureOpensWithItsFindingsAndLanes() throws {
        var config = ReportConfiguration(paths: [Self.fixture])
        config.command = "storetrace report attach.stcap"
        let report = try IncidentReport.make(config)
        #expect(report.findings == 3 && report.lanes == 16 && report.aggregatedLanes == 0)
        let page = Self.temporary("attach.html")
        defer { unlink(page) }
        try Data(report.html).write(to: URL(fileURLWithPath: page))

        let load = try HeadlessChromium.load(page)
        #expect(load.status == 0, "\(load.stderr)")
        #expect(load.console.isEmpty, "\(load.console)")
        #expect(load.dom.contains("<html lang=\"en\" data-js=\"ready\">"), "the script ran to its end")
        #expect(!load.dom.contains("data-js-error=\""))
        // The node.
        #expect(load.dom.contains("<h1>Storage incident on vm</h1>"))
        #expect(load.dom.contains("<th>kernel</th><td>Linux 6.18.44-fc-v1045</td>"))
        #expect(load.dom.contains("<th>drops</th><td>none</td>"))
        // The findings: each failed call as replay prints it (UTC), the mount operation under it.
        for line in ["18:58:04.713800  umount[8232]           mnt:4026531832     4.59µs  umount2(\"/tmp/gold/a\", 0) = -1 EINVAL",
                     "18:58:04.720189  umount[8234]           mnt:4026531832     4.75µs  umount2(\"/tmp/gold/b\", MNT_DETACH) = -1 EINVAL",
                     "18:58:04.960177  python3[8237]          mnt:4026531832     14.9µs  fspick(AT_FDCWD, \"/tmp/gold/nonexistent\", 0) = -1 ENOENT"] {
            #expect(load.dom.contains("<pre>" + line + "</pre>"), "\(line)")
        }
        #expect(load.dom.contains("<pre class=\"why\">18:58:04.713800  umount[8232]           mnt:4026531832     4.59µs  mount_op: unmount of \"/tmp/gold/a\" (umount2) failed at umount2(\"/tmp/gold/a\", 0) = -1 EINVAL</pre>"))
        // The lanes: device events, the kernel log, each process with storage calls.
        for lane in ["device events", "kernel log", "mount[8225]", "umount[8232]", "cp[8236]", "python3[8237]", "cat[8297]"] {
            #expect(load.dom.contains("</title>" + lane + "</text>"), "\(lane)")
        }
        // A finding links to its mark, a red one.
        let link = try #require(load.dom.firstMatch(of: try Regex(##"<a href="#(m\d+-\d+)">on the timeline at \+1\.796609 s, lane umount\[8232\]</a>"##)))
        let mark = try #require(link.output[1].substring.map(String.init))
        #expect(load.dom.contains("<rect id=\"\(mark)\" class=\"z fail\""))

        // Followed, the link zooms the timeline to the mark and marks it.
        let followed = try HeadlessChromium.load(page, fragment: mark)
        #expect(followed.console.isEmpty, "\(followed.console)")
        #expect(followed.dom.contains("<rect id=\"\(mark)\" class=\"z fail hl\""))
        let view = try #require(followed.dom.firstMatch(of: try Regex(#"data-view="(\d+)-(\d+)""#)))
        let from = try #require(view.output[1].substring.flatMap { UInt64($0) })
        let to = try #require(view.output[2].substring.flatMap { UInt64($0) })
        // The span is 3.18 s; the zoom is a window of a fortieth of it each side of the mark at +1.7966 s.
        #expect(from < 1_796_609_000 && to > 1_796_609_000 && to - from < 200_000_000, "\(from)-\(to)")
        #expect(followed.dom.contains("<span id=\"view\">+1.717"))
    }

    /// The page allows its own style and script by their SHA-256: the
    /// hashes in `ReportAssets` must be those of the texts.
    @Test func theContentSecurityPolicyHashesAreTheAssets() throws {
        let python = ProcessInfo.processInfo.environment["STORETRACE_PYTHON"] ?? "/usr/bin/python3"
        for (text, hash) in [(ReportAssets.style.description, ReportAssets.styleHash.description),
                             (ReportAssets.script.description, ReportAssets.scriptHash.description)] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = ["-c", "import base64, hashlib, sys; print('sha256-' + base64.b64encode(hashlib.sha256(sys.stdin.buffer.read()).digest()).decode())"]
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            input.fileHandleForWriting.write(Data(text.utf8))
            try input.fileHandleForWriting.close()
            let digest = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            process.waitUntilExit()
            #expect(digest == hash, "set the hash in ReportAssets to \(digest)")
        }
    }
}
