import Foundation
import Glibc
import Testing

extension KernelTests {
/// Two real recordings on "two nodes" (each recorder in a UTS namespace of
/// its own, with its own host name: the host name in a capture's start
/// snapshot is what makes it another node) replayed together as one
/// timeline, and described together by `info`.
@Suite struct FleetReplayTests {
    /// A recorder in its own UTS namespace named `host`.
    static func recorder(host: String, output: String, type: String) throws -> RunningCLI {
        try RunningCLI(["record", "-o", output, "--type", type, "--pid", "\(getpid())",
                        "--no-ftrace", "--no-uevents", "--no-kmsg", "--no-holders"],
                       via: ["/usr/bin/unshare", "-u", "/bin/sh", "-c", "hostname \"$0\" && exec \"$@\"", host])
    }

    @Test func twoNodesRecordedApartReplayAsOneTimeline() throws {
        let scratch = Scratch()
        let target = scratch.dir("m")
        let hostA = "fleet-a-\(getpid())", hostB = "fleet-b-\(getpid())"
        let captureA = scratch.path + "/a.stcap", captureB = scratch.path + "/b.stcap"
        // Node A sees the mounts, node B the unmounts: their events alternate in time.
        let a = try Self.recorder(host: hostA, output: captureA, type: "mount")
        let b = try Self.recorder(host: hostB, output: captureB, type: "umount")
        #expect(a.waitUntilReady(), "\(a.stderrText)")
        #expect(b.waitUntilReady(), "\(b.stderrText)")
        let rounds = 20
        for round in 0..<rounds {
            try check(mount("fleet\(round)", target, "tmpfs", 0, nil), "mount")
            usleep(2_000)
            try check(umount2(target, 0), "umount2")
            usleep(2_000)
        }
        usleep(300_000)
        let stoppedA = a.stop(), stoppedB = b.stop()
        #expect(stoppedA.status == 0, "\(stoppedA.stderr)")
        #expect(stoppedB.status == 0, "\(stoppedB.stderr)")

        // Alone: no host column, no host field.
        let aloneA = try CLI.run(["replay", captureA, "--json"])
        #expect(aloneA.status == 0, "\(aloneA.stderr)")
        #expect(callLines(aloneA.stdout).count == rounds)
        #expect(!aloneA.stdout.contains("\"host\":"))

        // Together: every call once, in the order they were made, each with its node.
        let merged = try CLI.run(["replay", captureB, captureA, "--json"])
        #expect(merged.status == 0, "\(merged.stderr)")
        let calls = callLines(merged.stdout)
        #expect(calls.count == 2 * rounds, "\(merged.stdout)")
        let expected = (0..<rounds).flatMap { _ in [("mount", hostA), ("umount", hostB)] }
        #expect(calls.map { "\($0["type"] as? String ?? "?")@\($0["host"] as? String ?? "?")" } == expected.map { "\($0.0)@\($0.1)" })
        #expect(calls.filter { $0["type"] as? String == "mount" }.map { $0["source"] as? String } == (0..<rounds).map { "fleet\($0)" })
        // The JSON of node A's calls is its replay alone, with the host after the time.
        let linesA = merged.stdout.split(separator: "\n").filter { $0.contains("\"host\":\"\(hostA)\"") }
        #expect(linesA.map { $0.replacingOccurrences(of: ",\"host\":\"\(hostA)\"", with: "") }
                == aloneA.stdout.split(separator: "\n").map(String.init))

        let text = try CLI.run(["replay", captureA, captureB])
        #expect(text.status == 0, "\(text.stderr)")
        let width = max(hostA.count, hostB.count)
        let textLines = text.stdout.split(separator: "\n")
        let padded = [hostA, hostB].map { $0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " }
        for line in textLines {
            let column = String(line.dropFirst("14:07:31.123456  ".count).prefix(width + 2))
            #expect(padded.contains(column), "\(line)")
        }
        let textCalls = textLines.filter { !$0.contains("mount_op:") }
        #expect(textCalls.count == 2 * rounds)
        for (index, line) in textCalls.enumerated() {
            #expect(line.dropFirst("14:07:31.123456  ".count).hasPrefix(padded[index % 2]), "\(line)")
            #expect(line.contains(index % 2 == 0 ? "  mount(\"fleet\(index / 2)\"" : "  umount2("), "\(line)")
        }

        let info = try CLI.run(["info", captureA, captureB])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdout.contains("nodes "), "\(info.stdout)")
        #expect(info.stdout.contains("2, merged by wall-clock time in replay"))
        for host in [hostA, hostB] {
            let line = info.stdout.split(separator: "\n").first { $0.hasPrefix("  \(host) ") }
            #expect(line?.contains("boot ") == true && line?.contains("clock offset +") == true && line?.contains(", 1 file") == true,
                    "\(info.stdout)")
        }
        #expect(info.stdout.split(separator: "\n").contains { $0.hasPrefix("clocks ") }, "\(info.stdout)")
    }
}
}
