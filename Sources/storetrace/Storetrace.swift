import ArgumentParser

@main
struct Storetrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storetrace",
        abstract: "Trace mounts, unmounts and file copies on a Linux node, live.",
        discussion: """
            storetrace attaches BPF programs to the syscall tracepoints of the mount family \
            (mount, umount2, fsopen, fsconfig, fsmount, move_mount, open_tree, mount_setattr, \
            fspick) and of copy_file_range with its io.Copy fallbacks (splice, sendfile), and \
            prints one line per call with its arguments, result and latency.

            Needs root, or CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN also works). \
            Run `storetrace doctor` to see what this node supports.

            Examples:
              storetrace                          # same as `storetrace live`
              storetrace live --failed            # only calls that returned an error
              storetrace live --type mount --type umount --json
              storetrace live --comm kubelet --min-latency 10ms
            """,
        subcommands: [Live.self, Doctor.self],
        defaultSubcommand: Live.self
    )
}
