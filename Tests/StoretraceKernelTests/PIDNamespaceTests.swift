import Foundation
import Glibc
import Testing
@testable import StoretraceKernel

extension KernelTests {
/// Two storetrace runs on one node, one of them in a container's PID
/// namespace: neither takes the other's tracefs instance for a stale one.
@Suite struct PIDNamespaceTests {
    /// The namespaced run gets a pid that no host process has (set through
    /// ns_last_pid), so its instance's name, storetrace-<pid>-0, names a
    /// process that is dead as seen from the host. A host `live` (which
    /// removes stale instances as it starts), `doctor` and `doctor
    /// --cleanup` must leave it, and the namespaced run keeps receiving its
    /// tracepoint events (exec of marker programs) after them.
    /// Pid 1 of the new namespace: sets the pid the next fork gets, forks
    /// and execs the command (argv[1...]), waits and exits with its status.
    /// (A shell as pid 1 does not reliably reap its child.)
    static func namespaceInit(nextPID: Int) -> String {
        """
        import os, signal, sys
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        with open("/proc/sys/kernel/ns_last_pid", "w") as f: f.write("\(nextPID - 1)")
        child = os.fork()
        if child == 0: os.execv(sys.argv[1], sys.argv[1:])
        _, status = os.waitpid(child, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    }

    @Test func hostRunLeavesTheInstanceOfANamespacedRun() throws {
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        let scratch = Scratch()
        // A pid free on the host; the namespaced storetrace is the next one forked there.
        let free = try #require((20_000..<32_000).first { kill(pid_t($0), 0) != 0 && errno == ESRCH })
        let markers = (1...2).map { scratch.path + "/marker\($0)" }
        for marker in markers { try FileManager.default.copyItem(atPath: "/bin/true", toPath: marker) }
        let before = Set(TracefsFiles.list(tracefs.path + "/instances"))

        let contained = try RunningCLI(
            ["live", "--json", "--type", "tracepoint", "--event", "sched:sched_process_exec",
             "--no-uevents", "--no-kmsg", "--duration", "20s"],
            via: ["/usr/bin/unshare", "-p", "-f", "--mount-proc", "/usr/bin/python3", "-c", Self.namespaceInit(nextPID: free)])
        #expect(contained.waitUntilReady(), "\(contained.stderrText)")
        let instance = "storetrace-\(free)-0"
        #expect(Set(TracefsFiles.list(tracefs.path + "/instances")).subtracting(before) == [instance])
        #expect(kill(pid_t(free), 0) != 0, "pid \(free) must be dead on the host for the test to mean anything")

        func exec(_ path: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            try? process.run()
            process.waitUntilExit()
        }
        exec(markers[0])
        func lines(containing text: String) -> [Substring] {
            let deadline = Date().addingTimeInterval(5)
            var found: [Substring] = []
            while found.isEmpty, Date() < deadline {
                found = contained.readLines(count: .max, seconds: 0.2).filter { $0.contains(text) }
            }
            return found
        }
        let first = lines(containing: markers[0])
        #expect(first.count == 1, "\(first)")

        // The host run, doctor and cleanup, while the namespaced run runs.
        let host = try CLI.run(["live", "--type", "tracepoint", "--event", "sched:sched_process_exec",
                                "--no-uevents", "--no-kmsg", "--duration", "1s"])
        #expect(host.status == 0, "\(host.stderr)")
        #expect(!host.stderr.contains(instance), "\(host.stderr)")
        let doctor = try CLI.run(["doctor"])
        #expect(!doctor.stdout.contains("stale instances"), "\(doctor.stdout)")
        let cleanup = try CLI.run(["doctor", "--cleanup"])
        #expect(cleanup.stdout.contains("cleanup: no stale storetrace instances"), "\(cleanup.stdout)")
        #expect(TracefsInstance.staleInstances(tracefs: tracefs).isEmpty)
        #expect(TracefsInstance.removeStale(tracefs: tracefs).isEmpty)
        #expect(access(tracefs.path + "/instances/" + instance, F_OK) == 0)

        exec(markers[1])
        let second = lines(containing: markers[1])
        #expect(second.count == 1, "the namespaced run lost its events: \(second)")
        // unshare ignores SIGTERM while it waits; the run ends at --duration,
        // cleanly, and takes its instance with it.
        let end = contained.stop(SIGTERM)
        #expect(end.status == 0, "\(end.stderr)")
        #expect(access(tracefs.path + "/instances/" + instance, F_OK) != 0)
    }
}
}
