import Foundation
import Glibc
import StoretraceFixtures
import Testing

/// `storetrace export` as a user runs it: what it says when the capture or
/// the output is wrong, and that it leaves nothing behind then.
@Suite struct ExportCLITests {
    let scratch = Scratch()

    /// Files in the scratch directory (hidden ones too: a temporary file left behind).
    func leftovers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted()
    }

    @Test func aMissingCaptureIsOneLineAndNoFile() throws {
        let result = try CLI.run(["export", scratch.path + "/none.stcap", "-o", scratch.path + "/out.pftrace"], timeout: 30)
        #expect(result.status == 1)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("storetrace: ") && result.stderr.contains("none.stcap"), "\(result.stderr)")
        #expect(try leftovers() == [])
    }

    @Test func aCorruptCaptureSaysWhereAndLeavesNoFile() throws {
        let capture = scratch.path + "/garbage.stcap"
        try Data(repeating: 0x5A, count: 4096).write(to: URL(fileURLWithPath: capture))
        let result = try CLI.run(["export", capture, "-o", scratch.path + "/out.pftrace"], timeout: 30)
        #expect(result.status == 1)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("garbage.stcap") && result.stderr.contains("offset"), "\(result.stderr)")
        #expect(try leftovers() == ["garbage.stcap"])
    }

    @Test func anUnwritableOutputSaysSo() throws {
        let capture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../StoretraceSessionTests/Fixtures/attach.stcap").standardized.path
        let output = scratch.path + "/no-such-directory/out.pftrace"
        let result = try CLI.run(["export", capture, "-o", output], timeout: 30)
        #expect(result.status == 1)
        #expect(result.stderr == "storetrace: cannot write \(output): ENOENT (No such file or directory)\n")
    }

    @Test func itSaysWhatItWrote() throws {
        let capture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../StoretraceSessionTests/Fixtures/attach.stcap").standardized.path
        let output = scratch.path + "/attach.pftrace"
        let result = try CLI.run(["export", capture, "-o", output, "--type", "umount"], timeout: 30)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "storetrace: exported 6 events (133 read, 127 left out by the filters) to \(output): "
                + "6 slices, 0 instants, 0 counter values, 0 flows on 12 tracks\n"
                // as replay says it: the fixture's function-tracer events from threads the capture never named
                + "storetrace: 45 ftrace events without a known task\n")
        #expect(try leftovers() == ["attach.pftrace"])
        let trace = try DecodedTrace(path: output)
        #expect(trace.errors == [] && trace.slices.count == 6)
    }
}

extension KernelTests {
    /// A stuck umount, end to end: a busy mount held by a process (its cwd
    /// is in it), umount2 fails with EBUSY, `record` captures the call and
    /// the holders its scan found; the export has the umount2 slice with
    /// EBUSY and a flow from it to the holders instant that names the holder.
    @Suite struct ExportKernelTests {
        @Test func aStuckUmountAndItsHoldersAreJoinedByAFlow() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            let holder = try node.sleeper("cd \(busy) && exec sleep 60")
            let explained = try Explained(node, types: ["umount"], name: "stuck") {
                #expect(umount2(busy, 0) == -1 && errno == EBUSY)
            }
            #expect(try explained.under("umount2(\"\(busy)\", 0) = -1 EBUSY").count == 1, "\(explained.live)")
            let capture = node.path + "/stuck.stcap"
            let output = node.path + "/stuck.pftrace"
            let result = try CLI.run(["export", capture, "-o", output], timeout: 60)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains(" 1 flows on "), "\(result.stderr)")

            let trace = try DecodedTrace(path: output)
            #expect(trace.errors == [])
            let umount = try #require(trace.slices.first { ($0["name"] as? String)?.hasPrefix("umount2 ") == true })
            #expect((umount["name"] as? String)?.hasSuffix(" = -1 EBUSY") == true, "\(umount)")
            #expect(umount["categories"] as? [String] == ["syscall", "failed"])
            let args = try #require(umount["args"] as? [String: Any])
            #expect(args["errno"] as? String == "EBUSY")
            #expect(args["ret"] as? Int == -16)
            #expect(args["target"] as? String == busy)
            #expect(args["pid"] as? Int == Int(getpid()))
            #expect((umount["dur"] as? NSNumber)?.int64Value == (explained.replayJSON.first { $0["type"] as? String == "umount" }?["latency_ns"] as? NSNumber)?.int64Value)

            let findings = trace.on(trace.uuid(trace.track(named: "findings (holders, mount health)")), trace.instants)
            #expect(findings.count == 1)
            let holders = try #require(findings.first)
            #expect((holders["name"] as? String)?.hasPrefix("holders ") == true)
            let held = try #require((holders["args"] as? [String: Any])?["holders"] as? [[String: Any]])
            #expect(held.contains { $0["pid"] as? Int == Int(holder) && $0["how"] as? String == "cwd" }, "\(held)")
            let lines = try #require((holders["args"] as? [String: Any])?["explanation"] as? [String])
            #expect(lines.contains { $0.hasPrefix("busy: pid \(holder) (sleep) in host, cwd \(busy)") }, "\(lines)")

            #expect(trace.flows.count == 1)
            let flow = try #require(trace.flows.first)
            #expect(flow["from"] as? String == umount["name"] as? String)
            #expect((flow["from_ts"] as? NSNumber) == (umount["ts"] as? NSNumber))
            #expect(flow["to"] as? String == holders["name"] as? String)
            #expect((flow["to_ts"] as? NSNumber) == (holders["ts"] as? NSNumber))
        }
    }
}
