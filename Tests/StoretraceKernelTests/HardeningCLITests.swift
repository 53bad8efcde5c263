import Foundation
import Glibc
import StoretraceKernel
import Testing

/// The dynamic section of an ELF64 little-endian file (the built binary):
/// its DT_NEEDED, DT_RPATH and DT_RUNPATH strings. Parsed here rather than
/// by running readelf, which a node or CI image may lack.
struct DynamicSection {
    var needed: [String] = []
    var rpath: [String] = []
    var runpath: [String] = []

    enum ParseError: Error { case notELF64, truncated, noDynamicSection }

    init(path: String) throws {
        let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        func integer<T: FixedWidthInteger>(_ offset: Int, _: T.Type) throws -> T {
            guard offset >= 0, offset + MemoryLayout<T>.size <= data.count else { throw ParseError.truncated }
            var value: T = 0
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: data[offset..<offset + MemoryLayout<T>.size]) }
            return T(littleEndian: value)
        }
        // e_ident: 7f 'E' 'L' 'F', ELFCLASS64, ELFDATA2LSB.
        guard data.count > 64, data[0..<4] == [0x7F, 0x45, 0x4C, 0x46], data[4] == 2, data[5] == 1 else { throw ParseError.notELF64 }
        let phoff = Int(try integer(32, UInt64.self)), phentsize = Int(try integer(54, UInt16.self)), phnum = Int(try integer(56, UInt16.self))
        var loads: [(vaddr: UInt64, offset: UInt64, size: UInt64)] = []
        var dynamic: (offset: Int, size: Int)?
        for index in 0..<phnum {
            let header = phoff + index * phentsize
            let type = try integer(header, UInt32.self)
            let offset = try integer(header + 8, UInt64.self), vaddr = try integer(header + 16, UInt64.self)
            let fileSize = try integer(header + 32, UInt64.self)
            if type == 1 { loads.append((vaddr, offset, fileSize)) } // PT_LOAD
            if type == 2 { dynamic = (Int(offset), Int(fileSize)) } // PT_DYNAMIC
        }
        guard let dynamic else { throw ParseError.noDynamicSection }
        var entries: [(tag: Int64, value: UInt64)] = []
        var strtab: UInt64?
        for entry in stride(from: dynamic.offset, to: dynamic.offset + dynamic.size, by: 16) {
            let tag = try integer(entry, Int64.self), value = try integer(entry + 8, UInt64.self)
            if tag == 0 { break } // DT_NULL
            if tag == 5 { strtab = value } // DT_STRTAB (an address)
            entries.append((tag, value))
        }
        guard let strtab, let load = loads.first(where: { strtab >= $0.vaddr && strtab < $0.vaddr + $0.size }) else {
            throw ParseError.noDynamicSection
        }
        let strings = Int(strtab - load.vaddr + load.offset)
        func string(_ offset: UInt64) throws -> String {
            let start = strings + Int(offset)
            guard start < data.count, let end = data[start...].firstIndex(of: 0) else { throw ParseError.truncated }
            return String(decoding: data[start..<end], as: UTF8.self)
        }
        for (tag, value) in entries {
            switch tag {
            case 1: needed.append(try string(value)) // DT_NEEDED
            case 15: rpath += try string(value).split(separator: ":").map(String.init) // DT_RPATH
            case 29: runpath += try string(value).split(separator: ":").map(String.init) // DT_RUNPATH
            default: break
            }
        }
    }
}

@Suite struct ShippedBinaryTests {
    /// A RUNPATH of $ORIGIN made `sudo /tmp/storetrace` load a libbpf.so.1
    /// planted beside the copy. Every directory the loader searches for the
    /// binary must be one only root can write, from / down; the shipped form
    /// (Swift runtime linked in) has none at all.
    @Test func noLibrarySearchPathAUserCanWrite() throws {
        let section = try DynamicSection(path: CLI.executable)
        #expect(section.rpath.isEmpty, "DT_RPATH \(section.rpath)")
        for directory in section.runpath {
            #expect(directory.hasPrefix("/"), "RUNPATH entry '\(directory)' is relative to the binary or the working directory")
            var path = directory
            while true {
                var info = stat()
                #expect(stat(path, &info) != 0 || (info.st_uid == 0 && info.st_mode & 0o022 == 0),
                        "RUNPATH \(directory): \(path) is writable by a non-root user")
                if path == "/" || path.isEmpty { break }
                path = (path as NSString).deletingLastPathComponent
            }
        }
        // With the Swift runtime linked in (scripts/storetrace), only system
        // libraries are needed and the default search path finds them.
        if !section.needed.contains("libswiftCore.so") {
            #expect(section.runpath.isEmpty, "RUNPATH \(section.runpath)")
        }
        // Neither a library named by path.
        #expect(section.needed.allSatisfy { !$0.contains("/") }, "\(section.needed)")
    }

    /// libbpf, libelf and zlib are linked in (Sources/CLibbpf/module.modulemap),
    /// so a node needs nothing but glibc and the C++ runtime, which every
    /// Debian and Ubuntu host has. A C library linked the usual way (the
    /// shared one) fails here, by name: link it as CLibbpf does. This test
    /// build (no --static-swift-stdlib) also loads the Swift runtime, from
    /// the toolchain its RUNPATH names; scripts/check-portable checks the
    /// shipped binary, which needs none.
    @Test func needsNothingButGlibcAndTheCxxRuntime() throws {
        let section = try DynamicSection(path: CLI.executable)
        let everyHostHas: Set = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
                                 "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "libstdc++.so.6", "libgcc_s.so.1"]
        let swiftRuntime = section.needed.filter { library in
            section.runpath.contains { access("\($0)/\(library)", F_OK) == 0 }
        }
        let others = section.needed.filter { !everyHostHas.contains($0) && !swiftRuntime.contains($0) }
        #expect(others.isEmpty, "needed at run time: \(others) (all: \(section.needed))")
        #expect(!section.needed.contains { $0.hasPrefix("libbpf") || $0.hasPrefix("libelf") || $0.hasPrefix("libz.") })
        #expect(section.needed.contains("libc.so.6"), "\(section.needed)")
    }

    /// No Foundation (and its 30 MB of ICU data) in the binary: only the
    /// FoundationEssentials that swift-argument-parser imports. This build
    /// loads the Swift libraries as shared ones, so an `import Foundation`
    /// in any module linked into storetrace (or a resource bundle, whose
    /// accessor imports it) shows here as a needed library.
    @Test func linksNoFoundation() throws {
        let needed = try DynamicSection(path: CLI.executable).needed
        for library in ["libFoundation.so", "libFoundationInternationalization.so", "lib_FoundationICU.so", "libFoundationNetworking.so"] {
            #expect(!needed.contains(library), "\(library) in \(needed)")
        }
    }
}

@Suite struct EscapedMessageTests {
    /// A file name or an argument with terminal controls (ESC, U+009B CSI,
    /// BEL) comes back in the error line escaped, never raw.
    @Test func errorLinesEscapeWhatTheyEcho() throws {
        let hostile = "/nonexistent/a\u{1B}[31m\u{9B}2J\u{7}.stcap"
        let escaped = #"/nonexistent/a\x1b[31m\xc2\x9b2J\x07.stcap"#
        // A --comm longer than 15 bytes: refused before anything is attached.
        let comm = "x\u{1B}]0;t\u{7}\u{9B}0123456789abcdef"
        for arguments in [["replay", hostile], ["info", hostile], ["live", "--comm", comm]] {
            let result = try CLI.run(arguments)
            #expect(result.status != 0)
            #expect(!result.stderr.contains("\u{1B}") && !result.stderr.contains("\u{9B}") && !result.stderr.contains("\u{7}"),
                    "\(arguments): \(result.stderr.debugDescription)")
        }
        let replay = try CLI.run(["replay", hostile])
        #expect(replay.stderr.contains(escaped), "\(replay.stderr.debugDescription)")
        let long = try CLI.run(["live", "--comm", comm])
        #expect(long.stderr.contains(#"--comm 'x\x1b]0;t\x07\xc2\x9b0123456789abcdef' is longer"#), "\(long.stderr.debugDescription)")
    }
}

@Suite struct DamagedInputCLITests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../StoretraceSessionTests/Fixtures/capture-v1.0.stcap").standardized.path

    func copy(_ bytes: [UInt8], name: String) throws -> String {
        let path = NSTemporaryDirectory() + "storetrace-\(getpid())-\(name).stcap"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Scripts tell a damaged capture by --strict's exit status 3; an intact
    /// one exits 0 with or without it, and without --strict damage exits 0.
    @Test func strictReplayExitsThreeOnDamage() throws {
        let intact = try CLI.run(["replay", "--strict", Self.fixture])
        #expect(intact.status == 0, "\(intact.stderr)")
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixture)))
        bytes[bytes.count / 2] ^= 0x40 // one flipped bit inside a chunk
        let damaged = try copy(bytes, name: "flipped")
        defer { unlink(damaged) }
        #expect(try CLI.run(["replay", damaged]).status == 0)
        let strict = try CLI.run(["replay", "--strict", damaged])
        #expect(strict.status == 3)
        #expect(strict.stderr.contains("storetrace: \(damaged): damaged (1 damaged region skipped); exit status 3 (--strict)"), "\(strict.stderr)")
        let cut = try copy(Array(bytes.prefix(bytes.count - 100)), name: "cut")
        defer { unlink(cut) }
        let torn = try CLI.run(["replay", "--strict", cut])
        #expect(torn.status == 3)
        #expect(torn.stderr.contains("torn tail at offset"), "\(torn.stderr)")
    }

    /// `replay FIFO` with no writer: one line, no wait (open(2) used to
    /// block for a writer forever; `info` opens the same way).
    @Test func replayOfAFIFOIsOneLine() throws {
        let path = NSTemporaryDirectory() + "storetrace-\(getpid())-fifo"
        unlink(path)
        #expect(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        for command in ["replay", "info"] {
            let result = try CLI.run([command, path], timeout: 20)
            #expect(!result.timedOut, "\(command) waited for a writer")
            #expect(result.seconds < 5, "\(command): \(result.seconds) s")
            #expect(result.status == 1)
            #expect(result.stderr == "storetrace: \(path): not a regular file; a capture must be one (a FIFO, a device or a directory is refused)\n")
        }
    }

    /// The fixture's file header, a 2 GiB hole (sparse), then the rest of the
    /// fixture: replay resyncs at the first chunk after the hole in well under
    /// the 45 s that 8-byte steps took, shows every event of the intact file,
    /// and --strict names the one damaged region.
    @Test func replayAcrossA2GiBHoleIsQuick() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixture)))
        // File header: magic (8), major (2), minor (2), header length (4) at 12.
        let headerLength = Int(bytes[12]) | Int(bytes[13]) << 8 | Int(bytes[14]) << 16 | Int(bytes[15]) << 24
        #expect(headerLength >= 64 && headerLength % 8 == 0 && headerLength < bytes.count)
        let path = NSTemporaryDirectory() + "storetrace-\(getpid())-hole.stcap"
        defer { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        let hole = 2 << 30
        #expect(bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, headerLength, 0) } == headerLength)
        #expect(bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + headerLength, $0.count - headerLength, off_t(headerLength + hole)) }
                == bytes.count - headerLength)
        close(fd)

        let intact = try CLI.run(["replay", "--json", Self.fixture])
        #expect(intact.status == 0, "\(intact.stderr)")
        let holed = try CLI.run(["replay", "--json", "--strict", path], timeout: 60)
        #expect(!holed.timedOut)
        #expect(holed.seconds < 10, "\(holed.seconds) s to skip a 2 GiB hole")
        #expect(holed.status == 3, "\(holed.stderr)")
        #expect(holed.stderr.contains("storetrace: \(path): damaged (1 damaged region skipped); exit status 3 (--strict)"), "\(holed.stderr)")
        #expect(!intact.stdout.isEmpty && holed.stdout == intact.stdout)
    }
}

extension KernelTests {
/// The capability path as README's Privileges section documents it.
@Suite struct CapabilityTests {
    func setpriv(_ caps: String) -> [String] {
        ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         "--inh-caps=-all,\(caps)", "--ambient-caps=\(caps)"]
    }

    /// Exactly CAP_BPF and CAP_PERFMON as uid 65534: tracefs is mounted but
    /// its events/ is root-only. The message says that (EACCES on events/),
    /// not "cannot mount tracefs"; adding CAP_DAC_READ_SEARCH makes it work.
    @Test func bpfAndPerfmonAloneNameTheRealCause() throws {
        let tracefs = try TracefsMount() // mounted, as on a node that uses it
        defer { tracefs.release() }
        let arguments = ["live", "--no-ftrace", "--no-uevents", "--no-kmsg", "--duration", "1s"]
        let bare = try CLI.run(arguments, via: setpriv("+bpf,+perfmon"))
        #expect(bare.status == 1)
        #expect(bare.stderr == "storetrace: tracefs: cannot read the tracepoint ids (events/ is root-only: run as root, or add CAP_DAC_READ_SEARCH to CAP_BPF and CAP_PERFMON) in \(tracefs.path)/events: Permission denied\n")
        let enough = try CLI.run(arguments, via: setpriv("+bpf,+perfmon,+dac_read_search"))
        #expect(enough.status == 0, "\(enough.stderr)")
        #expect(enough.stderr.contains("tracing 14 syscalls"), "\(enough.stderr)")
    }

    /// The ftrace instance as a non-root user: instances/ is root-only, so
    /// without CAP_DAC_OVERRIDE the warning says that (it was a bare
    /// "Permission denied", and README named CAP_SYS_ADMIN, which does not
    /// help); with it the tracepoint is found and enabled (access(2) ignored
    /// the capability and called every tracepoint absent).
    @Test func ftraceInstanceNamesWhatItNeeds() throws {
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        let arguments = ["live", "--type", "tracepoint", "--event", "sched:sched_process_exec", "--no-uevents", "--no-kmsg",
                         "--duration", "1s"]
        for caps in ["+bpf,+perfmon,+dac_read_search", "+bpf,+perfmon,+dac_read_search,+sys_admin"] {
            let without = try CLI.run(arguments, via: setpriv(caps), timeout: 60)
            let line = without.stderr.split(separator: "\n").first { $0.contains("not reading ftrace events") } ?? ""
            #expect(line.hasPrefix("storetrace: not reading ftrace events: tracefs: cannot create the tracefs instance (instances/ is root-only: run as root, or add CAP_DAC_OVERRIDE; --no-ftrace goes without) \(tracefs.path)/instances/storetrace-"),
                    "\(caps): \(without.stderr)")
            #expect(line.hasSuffix(": Permission denied"), "\(line)")
        }
        let with = try CLI.run(arguments, via: setpriv("+bpf,+perfmon,+dac_read_search,+dac_override"), timeout: 60)
        #expect(with.status == 0, "\(with.stderr)")
        #expect(!with.stderr.contains("not reading ftrace events") && !with.stderr.contains("sched:sched_process_exec"),
                "\(with.stderr)")
        #expect(with.stderr.contains("Ctrl-C to stop"), "\(with.stderr)")
    }

    /// doctor without privileges: the BPF probes say they were not checked,
    /// never that the kernel is older than 5.8.
    @Test func unprivilegedDoctorDoesNotBlameTheKernel() throws {
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        let result = try CLI.run(["doctor"], via: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                                   "--inh-caps=-all", "--bounding-set=-all"])
        #expect(result.status == 1)
        #expect(!result.stdout.contains("before 5.8") && !result.stdout.contains("before 5.11"), "\(result.stdout)")
        let ring = result.stdout.split(separator: "\n").first { $0.hasPrefix("BPF ring buffer ") } ?? ""
        #expect(ring.contains("refused") && ring.contains("not checked: the kernel refused the probe"), "\(ring)")
        let mount = result.stdout.split(separator: "\n").first { $0.hasPrefix("syscall mount ") } ?? ""
        #expect(mount.contains("refused") && mount.contains("EACCES"), "\(mount)")
    }
}
}

extension KernelTests {
/// Two `record --force` on one path: the second one used to truncate the
/// first one's file and write into it, with no error from either.
@Suite struct CaptureLockCLITests {
    @Test func secondRecordOnTheSamePathIsRefusedAndTheFirstStaysIntact() throws {
        let scratch = Scratch()
        let capture = scratch.path + "/shared.stcap"
        let notMounted = scratch.dir("plain")
        let first = try RunningCLI(["record", "-o", capture, "--force", "--type", "umount", "--pid", "\(getpid())"])
        #expect(first.waitUntilReady(), "\(first.stderrText)")
        for _ in 0..<3 { _ = umount2(notMounted, 0) } // EINVAL

        let second = try CLI.run(["record", "-o", capture, "--force", "--type", "umount", "--duration", "1s"], timeout: 60)
        #expect(second.status == 1, "\(second.stderr)")
        #expect(second.stderr.split(separator: "\n").last.map(String.init)
                == "storetrace: cannot create the capture: \(capture): another storetrace is recording into this file (it holds the file's lock); choose another path",
                "\(second.stderr)")
        #expect(!second.stderr.contains("Ctrl-C to stop"), "the second run must not start tracing: \(second.stderr)")

        for _ in 0..<2 { _ = umount2(notMounted, 0) }
        usleep(300_000)
        let end = first.stop(SIGINT)
        #expect(end.status == 0, "\(end.stderr)")
        // The first run's capture is whole, and holds its five calls.
        let replay = try CLI.run(["replay", "--json", "--strict", "--type", "umount", capture])
        #expect(replay.status == 0, "\(replay.stderr)")
        let calls = jsonLines(replay.stdout).filter { $0["target"] as? String == notMounted }
        #expect(calls.count == 5, "\(replay.stdout)")
        #expect(calls.allSatisfy { $0["errno"] as? String == "EINVAL" })
    }
}
}
