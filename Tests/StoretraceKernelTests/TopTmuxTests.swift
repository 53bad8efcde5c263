import CStoretraceSys
import Foundation
import Glibc
import Testing
@testable import StoretraceKernel

/// A tmux server of the test's own (`-L`), with one session running a
/// plain bash at a fixed size: `storetrace top` is typed into it as a user
/// would, and the pane is read back with capture-pane. Killed at deinit.
final class TmuxPane {
    let socket = "storetrace-test-\(getpid())"
    static let prompt = "top-test$ "

    init(columns: Int, rows: Int) throws {
        try tmux(["new-session", "-d", "-x", "\(columns)", "-y", "\(rows)", "-s", "top",
                  "env PS1='\(Self.prompt)' TERM=screen bash --norc --noprofile"])
        _ = waitFor(seconds: 10) { $0.contains(Self.prompt) }
    }

    deinit { _ = try? tmux(["kill-server"]) }

    /// Runs tmux and returns what it printed. Spawned here rather than with
    /// Foundation's Process, which hands the child a socket whose other end
    /// it waits on: the server that new-session daemonizes would inherit it
    /// and keep it open, and the wait would never end. So bash closes every
    /// descriptor above 2 before it execs tmux, output goes to a file, and
    /// the signal state is clean (this process may have SIGINT, SIGTERM and
    /// SIGHUP blocked by an in-process session; the shell in the pane must not).
    @discardableResult
    func tmux(_ arguments: [String]) throws -> String {
        let output = "/tmp/\(socket)-\(UInt32.random(in: 0...UInt32.max)).out"
        defer { unlink(output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let closer = "for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\"; done; exec \"$@\""
        let argv = ["/bin/bash", "-c", closer, "tmux", "/usr/bin/tmux", "-L", socket] + arguments
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, &attributes, &cArguments, environ)
        guard spawned == 0 else { throw SyscallFailed(description: "posix_spawn tmux: \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    }

    /// Types `text` (tmux's key names: "Enter", "C-c", or literal text).
    func send(_ keys: String...) throws { try tmux(["send-keys", "-t", "top"] + keys) }

    /// The pane's visible text, one line per row.
    func capture() -> String { (try? tmux(["capture-pane", "-p", "-t", "top"])) ?? "" }

    /// A tmux format of the pane: "#{alternate_on}", "#{pane_current_command}"...
    func format(_ format: String) -> String {
        ((try? tmux(["display-message", "-p", "-t", "top", format])) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The pane's text once `condition` holds, or nil after `seconds`.
    func waitFor(seconds: Double, _ condition: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            let text = capture()
            if condition(text) { return text }
            usleep(100_000)
        } while Date() < deadline
        return nil
    }

    /// The pid of the program the shell runs in the pane.
    func foregroundPID() -> Int32? {
        guard let shell = Int32(format("#{pane_pid}")),
              let children = try? String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8) else { return nil }
        return children.split(separator: " ").compactMap { Int32($0) }.first
    }

    /// What the terminal's state is: screen, cursor, line wrap, and the
    /// tty's settings as `stty -g` prints them (written by the shell).
    func terminalState(sttyFile: String) throws -> String {
        try? FileManager.default.removeItem(atPath: sttyFile)
        try send("stty -g > \(sttyFile)", "Enter")
        for _ in 0..<50 where (try? String(contentsOfFile: sttyFile, encoding: .utf8))?.isEmpty != false { usleep(100_000) }
        let stty = (try? String(contentsOfFile: sttyFile, encoding: .utf8)) ?? "no stty output"
        return format("alternate #{alternate_on} cursor #{cursor_flag} wrap #{wrap_flag}") + " " + stty
    }
}

/// Waits until no storetrace BPF program is loaded (they are freed after an
/// RCU grace period) and the session's tracefs instance is gone.
func expectNothingAttached(pid: Int32?, wasMounted: Bool) {
    var leftover = true
    for _ in 0..<60 where leftover {
        leftover = loadedBPFProgramNames().contains { $0.hasPrefix("st_exit_") || $0.hasPrefix("st_enter_") }
        if leftover { usleep(50_000) }
    }
    #expect(!leftover, "BPF programs still loaded after exit")
    if let pid {
        let instances = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/tracing/instances")) ?? []
        #expect(!instances.contains { $0.hasPrefix("storetrace-\(pid)-") }, "\(instances)")
        #expect(kill(pid, 0) != 0, "storetrace \(pid) still runs")
    }
    #expect((TracefsMount.existing() != nil) == wasMounted, "tracefs left mounted or unmounted")
}

extension KernelTests {
    /// `storetrace top` in tmux while this test makes real failing umounts
    /// (EBUSY: a sleep has its cwd on the mount) and copies on a loop
    /// device: the failures pane names the holder, the copies pane the
    /// device; q gives the shell its screen back with the terminal as it
    /// was, and nothing stays attached.
    @Suite struct TopTmuxTests {
        @Test func failuresAndCopiesShowThenQRestoresTheTerminal() throws {
            let node = BusyNode()
            let busy = node.scratch.dir("busy")
            try check(mount("storetrace-top", busy, "tmpfs", 0, "size=4m"), "mount tmpfs \(busy)")
            let holder = try node.sleeper("cd \(busy) && exec sleep 60")
            let disk = node.scratch.dir("disk")
            let device = try node.loopDevice(backedBy: node.path + "/disk.img", megabytes: 32, ext4: true)
            try check(mount(device, disk, "ext4", 0, nil), "mount \(device)")
            defer { umount2(disk, Int32(MNT_DETACH)) }
            var info = stat()
            try check(stat(device, &info), "stat \(device)")
            let major = st_dev_major(UInt64(info.st_rdev)), minor = st_dev_minor(UInt64(info.st_rdev))
            let source = disk + "/source.bin"
            try Data(repeating: 0x5A, count: 1 << 20).write(to: URL(fileURLWithPath: source))

            let wasMounted = TracefsMount.existing() != nil
            let pane = try TmuxPane(columns: 200, rows: 50)
            let before = try pane.terminalState(sttyFile: node.path + "/stty-before")
            #expect(before.hasPrefix("alternate 0 cursor 1 wrap 1 "), "\(before)")
            try pane.send("\(CLI.executable) top --pid \(getpid())", "Enter")
            let up = pane.waitFor(seconds: 30) { $0.contains("FAILURES newest first") }
            #expect(up != nil, "no dashboard:\n\(pane.capture())")
            let pid = pane.foregroundPID()
            #expect(pane.format("#{alternate_on} #{cursor_flag}") == "1 0")

            for _ in 0..<5 {
                #expect(umount2(busy, 0) == -1 && errno == EBUSY)
                usleep(20_000)
            }
            let input = open(source, O_RDONLY | O_CLOEXEC), output = open(disk + "/copy.bin", O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            #expect(input >= 0 && output >= 0)
            for _ in 0..<8 {
                var offset: Int64 = 0
                #expect(st_copy_file_range(input, &offset, output, nil, 1 << 20, 0) == 1 << 20)
            }
            close(input)
            close(output)

            let failure = "umount2 \(busy) EBUSY ×5, held by pid \(holder) (sleep) in host, cwd \(busy), on it"
            let name = (device as NSString).lastPathComponent + " (\(major):\(minor))"
            // The copies pane's row of the device, up to the column separator:
            // name (maj:min), calls/s, MiB/s, p99, calls, failed, read_ahead_kb.
            func copyColumns(_ screen: String) -> [Substring]? {
                screen.split(separator: "\n").first { $0.hasPrefix(name) }.map { $0.split(separator: "│")[0].split(separator: " ") }
            }
            let shown = pane.waitFor(seconds: 15) { screen in
                screen.contains(failure) && copyColumns(screen).map { $0.count == 8 && $0[5] == "8" } == true
            }
            #expect(shown != nil, "expected the failure and 8 copies on \(name):\n\(pane.capture())")
            if let shown, let columns = copyColumns(shown) { #expect(columns[6] == "0", "\(columns)") }

            try pane.send("q")
            let back = pane.waitFor(seconds: 20) { _ in pane.format("#{alternate_on} #{pane_current_command}") == "0 bash" }
            #expect(back != nil, "still in the dashboard:\n\(pane.capture())")
            let screen = pane.capture()
            #expect(!screen.contains("FAILURES"), "the dashboard stayed on the normal screen:\n\(screen)")
            #expect(screen.contains("; stopped by q"), "\(screen)")
            #expect(screen.split(separator: "\n").last.map(String.init) == TmuxPane.prompt.trimmingCharacters(in: .whitespaces),
                    "\(screen)")
            let after = try pane.terminalState(sttyFile: node.path + "/stty-after")
            #expect(after == before)
            expectNothingAttached(pid: pid, wasMounted: wasMounted)
        }

        /// Ctrl-C (a byte in raw mode) and SIGTERM end it as `live` ends,
        /// restoring the terminal; so does a crash; a resize redraws at the new size.
        @Test func ctrlCSIGTERMAndACrashRestoreTheTerminalAndResizeRedraws() throws {
            let scratch = Scratch()
            let wasMounted = TracefsMount.existing() != nil
            let pane = try TmuxPane(columns: 200, rows: 50)
            let before = try pane.terminalState(sttyFile: scratch.path + "/stty-before")
            let command = "\(CLI.executable) top --pid \(getpid()) --no-ftrace --no-uevents --no-kmsg"

            try pane.send(command, "Enter")
            #expect(pane.waitFor(seconds: 30) { $0.contains("FAILURES newest first") } != nil, "\(pane.capture())")
            try pane.tmux(["resize-window", "-t", "top", "-x", "80", "-y", "24"])
            let resized = pane.waitFor(seconds: 10) { screen in
                let rows = screen.split(separator: "\n", omittingEmptySubsequences: false)
                return rows.count >= 24 && rows[23].hasPrefix("sort: newest  q quit") && rows.allSatisfy { $0.count <= 80 }
            }
            #expect(resized != nil, "not redrawn at 80x24:\n\(pane.capture())")
            let first = pane.foregroundPID()
            try pane.send("C-c")
            #expect(pane.waitFor(seconds: 20) { _ in pane.format("#{alternate_on} #{pane_current_command}") == "0 bash" } != nil)
            #expect(pane.capture().contains("; stopped by SIGINT"), "\(pane.capture())")
            expectNothingAttached(pid: first, wasMounted: wasMounted)

            try pane.send("clear", "Enter")
            try pane.send(command, "Enter")
            #expect(pane.waitFor(seconds: 30) { $0.contains("FAILURES newest first") } != nil, "\(pane.capture())")
            let second = try #require(pane.foregroundPID())
            kill(second, SIGTERM)
            #expect(pane.waitFor(seconds: 20) { _ in pane.format("#{alternate_on} #{pane_current_command}") == "0 bash" } != nil)
            #expect(pane.capture().contains("; stopped by SIGTERM"), "\(pane.capture())")
            expectNothingAttached(pid: second, wasMounted: wasMounted)
            // The tty's settings as before (the window is smaller now: stty -g does not hold the size).
            #expect(try pane.terminalState(sttyFile: scratch.path + "/stty-after") == before)

            // A crash (here SIGSEGV from outside): the handler restores the
            // terminal before the signal goes on to the runtime (told not to
            // write a backtrace) and kills the process.
            try pane.send("clear", "Enter")
            try pane.send("ulimit -c 0; SWIFT_BACKTRACE=enable=no " + command, "Enter")
            #expect(pane.waitFor(seconds: 30) { $0.contains("FAILURES newest first") } != nil, "\(pane.capture())")
            let third = try #require(pane.foregroundPID())
            kill(third, SIGSEGV)
            #expect(pane.waitFor(seconds: 20) { _ in pane.format("#{alternate_on} #{pane_current_command}") == "0 bash" } != nil)
            #expect(!pane.capture().contains("FAILURES"), "\(pane.capture())")
            expectNothingAttached(pid: third, wasMounted: wasMounted)
            #expect(try pane.terminalState(sttyFile: scratch.path + "/stty-crash") == before)
        }

        /// Not a terminal: plain snapshots (no escape sequence), the last one
        /// after every event; --record writes a capture that replays the calls.
        @Test func plainSnapshotsWhenNotATerminalAndRecordWhileShowing() throws {
            let node = BusyNode()
            let busy = node.scratch.dir("busy")
            try check(mount("storetrace-top", busy, "tmpfs", 0, "size=4m"), "mount tmpfs \(busy)")
            let holder = try node.sleeper("cd \(busy) && exec sleep 60")
            let capture = node.path + "/top.stcap"
            let top = try RunningCLI(["top", "--pid", "\(getpid())", "--record", capture, "--snapshot-size", "200x40",
                                      "--no-ftrace", "--no-uevents", "--no-kmsg"])
            #expect(top.waitUntilReady())
            #expect(umount2(busy, 0) == -1 && errno == EBUSY)
            usleep(2_500_000)
            let stopped = top.stop()
            #expect(stopped.status == 0, "\(stopped.stderr)")
            #expect(!stopped.stdout.utf8.contains(0x1B), "an escape sequence in a plain snapshot")
            let snapshots = stopped.stdout.components(separatedBy: "storetrace top  ").dropFirst()
            #expect(snapshots.count >= 2, "\(stopped.stdout)")
            let last = try #require(snapshots.last)
            #expect(last.contains("umount2 \(busy) EBUSY, held by pid \(holder) (sleep) in host, cwd \(busy), on it"), "\(last)")
            #expect(last.split(separator: "\n").count <= 40)
            #expect(stopped.stderr.contains("; stopped by SIGTERM"))
            let replay = try CLI.run(["replay", capture])
            #expect(replay.status == 0, "\(replay.stderr)")
            #expect(replay.stdout.contains("umount2(\"\(busy)\", 0) = -1 EBUSY"), "\(replay.stdout)")
            #expect(replay.stdout.contains("  ↳ busy: pid \(holder) (sleep) in host, cwd \(busy), on it"), "\(replay.stdout)")
        }
    }
}
