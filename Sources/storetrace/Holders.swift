import ArgumentParser
import Glibc
import StoretraceDecode
import StoretraceKernel
import StoretraceRender

struct Holders: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "holders",
        abstract: "Explain \"device or resource busy\": who holds a mount or a block device, in every mount namespace.",
        discussion: """
            TARGET is a path (a mount point or a file on a mount), a block device node (/dev/X) \
            or a device number (MAJ:MIN). storetrace reads /proc and /sys once and names \
            everything that keeps it busy:

              processes whose cwd, root, exe, open fds or memory maps are on the mount, on a \
            copy of it in another mount namespace (same peer group, shared:N, or same device and \
            root) or on a mount below it: pid, comm, namespace, how, the path as it sees it;
              copies of the mount in other namespaces, mounts below or on top of it, and \
            namespaces with no process left that an nsfs bind mount keeps (lsns --persistent);
              for a block device: processes with it open (fd, flags), every mount of it in \
            every namespace, devices stacked on it (sysfs holders/: dm, md), loop devices \
            backed by a file on it, swap.

            The kernel does not show an exclusive open (O_EXCL) anywhere: a process holding \
            the device open shows as `open`, without the flag; `live` and `record` trace the \
            claims themselves where the kernel allows fexit or kprobes (storetrace doctor \
            says whether it does) and name the claimer under a failed mount. Namespaces are named by a \
            process in them (the lowest pid that is not a kernel thread), the initial one \
            `host`. Processes that exit during the scan are skipped and counted.

            Exit status: 0 nothing holds any target, 1 something holds one, 2 a target \
            cannot be resolved (one line on stderr names it). Needs root (CAP_SYS_PTRACE, \
            CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN) to see every process; without them it warns \
            and finds less.

            Examples:
              storetrace holders /var/lib/kubelet/plugins/kubernetes.io/csi/ebs.csi.aws.com/3f1c.../globalmount
              storetrace holders /dev/loop0
              storetrace holders 7:0 --json
            """
    )

    @Argument(help: ArgumentHelp("Mount points, paths, /dev/X or MAJ:MIN.", valueName: "target"))
    var targets: [String]

    @Flag(name: .long, help: "One `holders` event per target as JSON (docs/events.md).")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Stop each scan after this long and say so (10s, 500ms; default 10s).", valueName: "duration"),
            transform: DurationValue.parse)
    var timeBudget: DurationValue = DurationValue(text: "10s", nanoseconds: 10_000_000_000)

    func validate() throws {
        if targets.isEmpty { throw ValidationError("give at least one target") }
        if timeBudget.nanoseconds == 0 || timeBudget.nanoseconds > UInt64(Int64.max) {
            throw ValidationError("--time-budget must be more than 0 (got \(timeBudget.text))")
        }
    }

    func run() throws {
        let missing = Privileges.missingForHolderScan()
        if !missing.isEmpty {
            fputs("storetrace: without \(missing.joined(separator: ", ")) other users' processes and pinned namespaces "
                  + "cannot be read; they are skipped and counted (run as root)\n", stderr)
        }
        var options = HolderScanOptions.interactive
        options.timeBudgetNanoseconds = Int64(timeBudget.nanoseconds)
        let clock = KernelClock.measureOffset()
        var anyHeld = false
        var badTarget = false
        for argument in targets {
            let report: HolderReport
            do {
                report = try HolderScan.run(HolderTarget(argument: argument), options: options)
            } catch {
                fputs("storetrace: \(error.description)\n", stderr)
                badTarget = true
                continue
            }
            anyHeld = anyHeld || report.isHeld
            var out = OutputBuffer(capacity: 4096)
            if json {
                HolderRenderer.renderJSON(report, clock: clock, into: &out)
            } else {
                HolderRenderer.renderTarget(report, into: &out)
                HolderRenderer.renderText(report, clock: clock, into: &out)
            }
            out.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, stdout) }
        }
        fflush(stdout)
        if badTarget { throw ExitCode(2) }
        if anyHeld { throw ExitCode(1) }
    }
}
