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
        "tracer: object decoded", "tracer: object opened",
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

/// Every command names itself: without `commandName`, swift-argument-parser
/// derives each name from its type with String(describing:) on every run,
/// for every command in the tree (`top`, `report` and `export` without it
/// were 4.1 M instructions, 0.7 ms, of each start-up). Read from the
/// sources, as the parser's tree is not reachable from a test.
@Suite struct CommandNameTests {
    static let commands = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/storetrace").standardized

    @Test func everyCommandNamesItself() throws {
        var named: [String] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.commands.path).sorted() where file.hasSuffix(".swift") {
            let text = try String(contentsOf: Self.commands.appendingPathComponent(file), encoding: .utf8)
            for match in text.matches(of: try Regex(#"struct (\w+): (?:Async)?ParsableCommand\b"#)) {
                let type = String(match.output[1].substring!)
                let rest = text[match.range.upperBound...]
                let configuration = try #require(rest.firstRange(of: "CommandConfiguration("), "\(file): \(type) has no configuration")
                let name = try Regex(#"^\s*commandName: "([a-z-]+)","#)
                let found = try #require(try name.prefixMatch(in: rest[configuration.upperBound...]),
                                         "\(file): \(type)'s configuration does not begin with its commandName")
                named.append(String(found.output[1].substring!))
            }
        }
        #expect(named.sorted() == ["doctor", "export", "holders", "info", "live", "record", "replay", "report", "storetrace", "summary", "top"],
                "\(named.sorted())")
    }
}
