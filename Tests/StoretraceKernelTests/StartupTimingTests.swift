import Foundation
import Testing

extension KernelTests {
/// STORETRACE_DEBUG_TIMING=1: one stderr line per phase of start-up, in the
/// order they run (the syscall tracer attached before the rest of the
/// set-up), each with its time since main() and since the phase before;
/// nothing without it.
@Suite struct StartupTimingTests {
    static let phases = [
        "arguments parsed", "privileges checked", "event loop and signals", "tracefs mounted",
        "tracer: kernel probes", "tracer: object decoded", "tracer: object opened",
        "tracer: object loaded (BTF, maps, verifier)", "tracer: programs attached",
        "cgroups indexed", "clock offset and renderers", "node snapshot or block devices and kubelet volumes",
        "sources opened", "device table", "sources joined to the event loop",
    ]

    @Test func phasesArePrintedInOrderOnlyWhenAsked() throws {
        let arguments = ["live", "--type", "mount", "--no-ftrace", "--no-uevents", "--no-kmsg", "--no-claims", "--duration", "10ms"]
        let timed = try CLI.run(arguments, via: ["/usr/bin/env", "STORETRACE_DEBUG_TIMING=1"], timeout: 60)
        #expect(timed.status == 0, "\(timed.stderr)")
        let lines = timed.stderr.split(separator: "\n").filter { $0.hasPrefix("storetrace: timing: ") }
        let first = try #require(lines.first)
        #expect(try Regex(#"^storetrace: timing: [0-9]+\.[0-9]{3} ms CPU before main \(exec, loading, relocations\)$"#)
            .wholeMatch(in: first) != nil, "\(first)")
        let phase = try Regex(#"^storetrace: timing: ([0-9]+\.[0-9]{3}) ms \(\+([0-9]+\.[0-9]{3})\) (.+)$"#)
        var names: [String] = []
        var previous = 0.0
        for line in lines.dropFirst() {
            let match = try #require(try phase.wholeMatch(in: line), "\(line)")
            let since = try #require(Double(String(match.output[1].substring!)))
            let step = try #require(Double(String(match.output[2].substring!)))
            #expect(since >= previous && abs(since - previous - step) < 0.002, "\(line) after \(previous) ms")
            previous = since
            names.append(String(match.output[3].substring!))
        }
        #expect(names == Self.phases, "\(names)")
        #expect(names.firstIndex(of: "tracer: programs attached")! < names.firstIndex(of: "cgroups indexed")!)

        let untimed = try CLI.run(arguments, timeout: 60)
        #expect(untimed.status == 0)
        #expect(!untimed.stderr.contains("timing:"), "\(untimed.stderr)")
    }
}
}
