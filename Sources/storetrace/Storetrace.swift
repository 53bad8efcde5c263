import ArgumentParser
import Glibc
import StoretraceKernel
import StoretraceRender

/// Every command names itself (`commandName`): ArgumentParser would
/// otherwise derive each name from its type with String(describing:), on
/// every run, for every command: a third of the instructions before `live`
/// starts its work (BENCHMARKS.md, "Start-up").
@main
struct Storetrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storetrace",
        abstract: "Trace mounts, unmounts, file copies and driver binding on a Linux node.",
        discussion: """
            storetrace attaches BPF programs to the syscall tracepoints of the mount family \
            (mount, umount2, fsopen, fsconfig, fsmount, move_mount, open_tree, mount_setattr, \
            fspick) and of copy_file_range with its io.Copy fallbacks (splice, sendfile), and \
            prints one line per call with its arguments, result and latency; directory removals \
            (rmdir, unlinkat) are shown when they fail with EBUSY, with who holds the directory \
            under them. New-API mount calls are also put together into one mount_op line each. Driver binding \
            (function tracer on bind_store, nvme_probe...), storage tracepoints, device uevents \
            and the kernel log join them on the same timeline.

            Needs root, or CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN also works). \
            Run `storetrace doctor` to see what this node supports.

            Examples:
              storetrace                          # same as `storetrace live`
              storetrace live --failed            # only calls that returned an error
              storetrace live --type mount --type umount --json
              storetrace top                      # a live dashboard: failures and their holders, mounts, copies
              storetrace live --comm kubelet --min-latency 10ms
              storetrace record -o reattach.stcap       # during a disk re-attach
              storetrace replay reattach.stcap          # later, on any machine
              storetrace summary copies.stcap           # copies per device and read-ahead
              storetrace export reattach.stcap -o reattach.pftrace  # a timeline for ui.perfetto.dev
              storetrace report reattach.stcap -o incident.html  # one HTML page for the ticket
              storetrace info --snapshot reattach.stcap
              storetrace holders /dev/loop0           # who keeps it busy, in every namespace
            """,
        subcommands: [Live.self, Top.self, Record.self, Replay.self, Summary.self, Export.self, Report.self, Info.self, Holders.self, Doctor.self],
        defaultSubcommand: Live.self
    )

    /// ArgumentParser's main, except that error messages (which echo the
    /// user's arguments) go through the terminal escaper line by line.
    static func main() {
        StartupTiming.begin()
        do {
            var command = try parseAsRoot()
            StartupTiming.mark("arguments parsed")
            try command.run()
        } catch {
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) } // --help and the like
            let message = fullMessage(for: error)
            if !message.isEmpty {
                let lines = message.split(separator: "\n", omittingEmptySubsequences: false)
                fputs(lines.map { escapedForTerminal(String($0)) }.joined(separator: "\n") + "\n", stderr)
            }
            Glibc.exit(code.rawValue)
        }
    }
}
