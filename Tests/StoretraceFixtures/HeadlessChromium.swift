import Foundation

/// Debian's `chromium`, headless, on a page the tests wrote: the DOM after
/// its scripts ran (`--dump-dom`), and every message its console logged
/// (`--enable-logging=stderr` prints them as `INFO:CONSOLE` lines: script
/// errors, Content-Security-Policy violations, console.error). `scripts/test`
/// installs it; a test that needs it fails without it, never skips.
public enum HeadlessChromium {
    public static let executable = "/usr/bin/chromium"

    public struct Load {
        public var dom: String
        /// The console's messages, one line each.
        public var console: [String]
        public var status: Int32
        public var stderr: String
    }

    public struct Missing: Error, CustomStringConvertible {
        public var description: String { "\(HeadlessChromium.executable) is not installed (scripts/test installs Debian's chromium)" }
    }

    /// Loads `file` (with `#fragment`, if any) and dumps its DOM.
    public static func load(_ file: String, fragment: String? = nil) throws -> Load {
        let url = "file://" + file + (fragment.map { "#" + $0 } ?? "")
        let result = try run(["--dump-dom", url])
        let console = result.stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
        return Load(dom: result.stdout, console: console, status: result.status, stderr: result.stderr)
    }

    /// A PNG of the page as a window `width` × `height` shows it.
    public static func screenshot(_ file: String, to png: String, width: Int = 1400, height: Int = 1000) throws -> Int32 {
        try run(["--hide-scrollbars", "--screenshot=" + png, "--window-size=\(width),\(height)", "file://" + file]).status
    }

    /// Chromium with a profile of its own (removed after), as root needs it
    /// (--no-sandbox), killed after a minute rather than hang a test.
    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        guard FileManager.default.isExecutableFile(atPath: executable) else { throw Missing() }
        let profile = FileManager.default.temporaryDirectory.path + "/st-chromium-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + profile,
                             "--enable-logging=stderr", "--v=0"] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let killer = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: killer)
        // Both pipes drained at once: a full stderr pipe must not stall it.
        var stderrData = Data()
        let reader = DispatchQueue(label: "chromium-stderr")
        let group = DispatchGroup()
        group.enter()
        reader.async {
            stderrData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        killer.cancel()
        return (process.terminationStatus, String(decoding: stdoutData, as: UTF8.self), String(decoding: stderrData, as: UTF8.self))
    }
}
