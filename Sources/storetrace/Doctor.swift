import ArgumentParser
import Glibc
import StoretraceKernel
import StoretraceRender

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check what this node supports and what storetrace would use.",
        discussion: """
            One line per check: ok, missing (the kernel lacks it) or refused (the kernel has it \
            but does not allow it here), with the reason. Changes nothing on the node: a tracefs \
            mount or instance made for a check is removed before exit. Exits 1 if tracing is \
            impossible (no privileges or no syscall tracepoints).
            """
    )

    @Flag(name: .long, help: "Remove tracefs instances left by storetrace runs that were killed, then check.")
    var cleanup = false

    func run() throws {
        if cleanup {
            do {
                let tracefs = try TracefsMount()
                let removed = TracefsInstance.removeStale(tracefs: tracefs)
                tracefs.release()
                print(removed.isEmpty ? "cleanup: no stale storetrace instances" : "cleanup: removed " + escapedForTerminal(removed.joined(separator: ", ")))
            } catch {
                print("cleanup: " + escapedForTerminal("\(error)"))
            }
        }
        let results = NodeProbe.run()
        let width = results.map(\.name.count).max() ?? 0
        let color = isatty(STDOUT_FILENO) == 1 && getenv("NO_COLOR") == nil
        for result in results {
            let state = result.state.rawValue
            let painted: String
            if color {
                let code = result.state == .ok ? "32" : result.state == .missing ? "33" : "31"
                painted = "\u{1B}[\(code)m\(state)\u{1B}[0m" + String(repeating: " ", count: 8 - state.count)
            } else {
                painted = state + String(repeating: " ", count: 8 - state.count)
            }
            print(result.name + String(repeating: " ", count: width - result.name.count + 2) + painted + escapedForTerminal(result.detail))
        }
        let privileged = results.first { $0.name == "privileges" }?.state == .ok
        let anySyscall = results.contains { $0.name.hasPrefix("syscall ") && $0.state == .ok }
        if !privileged || !anySyscall { throw ExitCode(1) }
    }
}
