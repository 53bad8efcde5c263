import CAllocCounter
import CStoretraceSys
import Foundation
import Glibc
import StoretraceDecode
import StoretraceKernel
import StoretraceRecords
import StoretraceRender
import StoretraceSession
import Testing

/// Real BPF, real syscalls: each test mounts, unmounts and copies for real
/// and checks every decoded field. Serialized: they share the tracepoints
/// and this process's pid filter.
extension KernelTests {
@Suite struct SyscallTracerTests {
    let pid = Int(getpid())

    /// Sizes the BPF map cannot take are refused by the tracer itself
    /// (`UInt32(bufferSize)` trapped on them before), before anything loads.
    @Test func unusableOptionsAreRefusedNotTrapped() throws {
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        for size in [1 << 33, 3 << 20, page / 2, 0, -1] {
            var options = TracerOptions()
            options.bufferSize = size
            #expect(throws: KernelError.invalidOption("buffer size \(size) must be a power of two between \(page >> 10)K and 1G")) {
                _ = try SyscallTracer(options: options, tracefs: tracefs)
            }
        }
        var options = TracerOptions()
        options.wakeupIntervalNanoseconds = 41_000_000
        #expect(throws: KernelError.invalidOption("wake-up interval 41000000 ns must be 0 (wake for every event) or from 1ms to 40ms")) {
            _ = try SyscallTracer(options: options, tracefs: tracefs)
        }
        #expect(!loadedBPFProgramNames().contains { $0.hasPrefix("st_exit_") })
    }

    func commonFields(_ event: [String: Any], type: String, ret: Int, errno: String?) throws {
        #expect(event["type"] as? String == type)
        #expect(event["pid"] as? Int == pid)
        #expect(event["tid"] as? Int == Int(st_gettid()))
        #expect(event["mntns"] as? Int == (try selfMountNamespace()))
        #expect(event["ret"] as? Int == ret)
        if let errno { #expect(event["errno"] as? String == errno) } else { #expect(event["errno"] is NSNull) }
        #expect((event["latency_ns"] as? Int ?? -1) > 0)
        #expect((event["time"] as? String)?.hasSuffix("Z") == true)
        #expect((event["comm"] as? String)?.isEmpty == false)
        #expect(event["uid"] as? Int == Int(getuid()))
        #expect(event["truncated"] == nil)
    }

    @Test func bindMountRecursiveBindAndUmounts() throws {
        let scratch = Scratch()
        let source = scratch.dir("source"), bind = scratch.dir("bind"), rbind = scratch.dir("rbind")
        let (events, losses) = try traceSelf {
            try check(mount(source, bind, nil, UInt(MS_BIND), nil), "mount --bind")
            try check(mount(source, rbind, "none", UInt(MS_BIND | MS_REC), nil), "mount --rbind")
            try check(umount2(bind, 0), "umount")
            try check(umount2(rbind, Int32(MNT_DETACH)), "umount -l")
        }
        #expect(losses.lost == 0)

        let bindEvent = try #require(events.of(type: "mount", where: "target", is: bind).first)
        try commonFields(bindEvent, type: "mount", ret: 0, errno: nil)
        #expect(bindEvent["source"] as? String == source)
        #expect(bindEvent["fstype"] is NSNull)
        #expect(bindEvent["data"] is NSNull)
        #expect(bindEvent["flags"] as? [String] == ["MS_BIND"])

        let rbindEvent = try #require(events.of(type: "mount", where: "target", is: rbind).first)
        try commonFields(rbindEvent, type: "mount", ret: 0, errno: nil)
        #expect(rbindEvent["fstype"] as? String == "none")
        #expect(rbindEvent["flags"] as? [String] == ["MS_BIND", "MS_REC"])

        let umountEvent = try #require(events.of(type: "umount", where: "target", is: bind).first)
        try commonFields(umountEvent, type: "umount", ret: 0, errno: nil)
        #expect(umountEvent["flags"] as? [String] == [])

        let detachEvent = try #require(events.of(type: "umount", where: "target", is: rbind).first)
        try commonFields(detachEvent, type: "umount", ret: 0, errno: nil)
        #expect(detachEvent["flags"] as? [String] == ["MNT_DETACH"])

        // In call order.
        let order = events.compactMap { ($0["target"] as? String).map { ($0, $0) } }.map(\.0)
            .filter { $0 == bind || $0 == rbind }
        #expect(order == [bind, rbind, bind, rbind])
    }

    @Test func umountOfNonMountPointFailsWithEINVAL() throws {
        let scratch = Scratch()
        let plain = scratch.dir("plain")
        let (events, _) = try traceSelf(kinds: [.umount]) {
            #expect(umount2(plain, 0) == -1 && errno == EINVAL)
        }
        let event = try #require(events.of(type: "umount", where: "target", is: plain).first)
        try commonFields(event, type: "umount", ret: -Int(EINVAL), errno: "EINVAL")
        #expect(events.allSatisfy { $0["type"] as? String == "umount" })
    }

    @Test func newMountAPISequenceMountsTmpfs() throws {
        let scratch = Scratch()
        let target = scratch.dir("tmpfs")
        var fsFD: Int32 = -1, mountFD: Int32 = -1, treeFD: Int32 = -1, pickFD: Int32 = -1
        let (events, _) = try traceSelf {
            fsFD = try check(st_fsopen("tmpfs", 1 /* FSOPEN_CLOEXEC */), "fsopen")
            try check(st_fsconfig(fsFD, 1 /* SET_STRING */, "size", "1M", 0), "fsconfig size")
            try check(st_fsconfig(fsFD, 0 /* SET_FLAG */, "noswap", nil, 0) >= 0 ? 0 : 0, "fsconfig flag")
            try check(st_fsconfig(fsFD, 6 /* CMD_CREATE */, nil, nil, 0), "fsconfig create")
            mountFD = try check(st_fsmount(fsFD, 1 /* FSMOUNT_CLOEXEC */, 0x4 | 0x10 /* NODEV|NOATIME */), "fsmount")
            try check(st_move_mount(mountFD, "", -100, target, 0x4 /* F_EMPTY_PATH */), "move_mount")
            treeFD = try check(st_open_tree(-100, target, 1 | 0x80000 /* CLONE|CLOEXEC */), "open_tree")
            try check(st_mount_setattr(-100, target, 0x8000 /* AT_RECURSIVE */, 0x1 /* RDONLY */, 0, 0), "mount_setattr")
            pickFD = try check(st_fspick(-100, target, 1 /* FSPICK_CLOEXEC */), "fspick")
            // The descriptors pin the mount: release them before unmounting.
            for fd in [fsFD, mountFD, treeFD, pickFD] { close(fd) }
            try check(umount2(target, 0), "umount")
        }

        let fsopen = try #require(events.first { $0["type"] as? String == "fsopen" })
        try commonFields(fsopen, type: "fsopen", ret: Int(fsFD), errno: nil)
        #expect(fsopen["fstype"] as? String == "tmpfs")
        #expect(fsopen["flags"] as? [String] == ["FSOPEN_CLOEXEC"])

        let configs = events.filter { $0["type"] as? String == "fsconfig" }
        #expect(configs.count == 3)
        let size = try #require(configs.first)
        try commonFields(size, type: "fsconfig", ret: 0, errno: nil)
        #expect(size["fd"] as? Int == Int(fsFD))
        #expect(size["cmd"] as? String == "FSCONFIG_SET_STRING")
        #expect(size["key"] as? String == "size")
        #expect(size["value"] as? String == "1M")
        #expect(configs[1]["cmd"] as? String == "FSCONFIG_SET_FLAG")
        #expect(configs[1]["key"] as? String == "noswap")
        #expect(configs[1]["value"] is NSNull)
        #expect(configs[2]["cmd"] as? String == "FSCONFIG_CMD_CREATE")
        #expect(configs[2]["key"] is NSNull)

        let fsmount = try #require(events.first { $0["type"] as? String == "fsmount" })
        try commonFields(fsmount, type: "fsmount", ret: Int(mountFD), errno: nil)
        #expect(fsmount["fd"] as? Int == Int(fsFD))
        #expect(fsmount["flags"] as? [String] == ["FSMOUNT_CLOEXEC"])
        #expect(fsmount["attr_flags"] as? [String] == ["MOUNT_ATTR_NODEV", "MOUNT_ATTR_NOATIME"])

        let move = try #require(events.first { $0["type"] as? String == "move_mount" })
        try commonFields(move, type: "move_mount", ret: 0, errno: nil)
        #expect(move["from_dfd"] as? Int == Int(mountFD))
        #expect(move["from_path"] as? String == "")
        #expect(move["to_dfd"] as? Int == -100)
        #expect(move["to_path"] as? String == target)
        #expect(move["flags"] as? [String] == ["MOVE_MOUNT_F_EMPTY_PATH"])

        let tree = try #require(events.first { $0["type"] as? String == "open_tree" })
        try commonFields(tree, type: "open_tree", ret: Int(treeFD), errno: nil)
        #expect(tree["dfd"] as? Int == -100)
        #expect(tree["path"] as? String == target)
        #expect(tree["flags"] as? [String] == ["OPEN_TREE_CLONE", "OPEN_TREE_CLOEXEC"])

        let setattr = try #require(events.first { $0["type"] as? String == "mount_setattr" })
        try commonFields(setattr, type: "mount_setattr", ret: 0, errno: nil)
        #expect(setattr["path"] as? String == target)
        #expect(setattr["flags"] as? [String] == ["AT_RECURSIVE"])
        #expect(setattr["attr_set"] as? [String] == ["MOUNT_ATTR_RDONLY"])
        #expect(setattr["attr_clr"] as? [String] == [])
        #expect(setattr["propagation"] as? [String] == [])

        let pick = try #require(events.first { $0["type"] as? String == "fspick" })
        try commonFields(pick, type: "fspick", ret: Int(pickFD), errno: nil)
        #expect(pick["path"] as? String == target)
        #expect(pick["flags"] as? [String] == ["FSPICK_CLOEXEC"])

        let umount = try #require(events.of(type: "umount", where: "target", is: target).first)
        try commonFields(umount, type: "umount", ret: 0, errno: nil)
    }

    /// How the BPF side runs: the ring buffer with task storage (Linux
    /// 5.11+) and the files read with plain loads (6.2+), the files read
    /// with helper calls (before 6.2), the perf buffer (before 5.8), the
    /// hash table and helper reads (before 5.11). Each must record the same
    /// fields.
    enum Path: CaseIterable { case ringBuffer, helperFileReads, perfBuffer, legacyTaskState }

    @Test(arguments: Path.allCases)
    func copyFileRangeOfOneMebibyte(path: Path) throws {
        let scratch = Scratch()
        let inPath = scratch.path + "/in.bin", outPath = scratch.path + "/out.bin"
        FileManager.default.createFile(atPath: inPath, contents: Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }))
        let input = try check(open(inPath, O_RDONLY), "open in")
        let output = try check(open(outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600), "open out")
        defer { close(input); close(output) }
        var offset: Int64 = 0
        var copied = 0
        let (events, _) = try traceSelf(perfBuffer: path == .perfBuffer, legacyTaskState: path == .legacyTaskState,
                                        helperFileReads: path == .helperFileReads, kinds: [.copyFileRange]) {
            copied = st_copy_file_range(input, &offset, output, nil, 1 << 20, 0)
        }
        #expect(copied == 1 << 20)
        let event = try #require(events.first { $0["type"] as? String == "copy_file_range" })
        try commonFields(event, type: "copy_file_range", ret: 1 << 20, errno: nil)
        #expect(event["fd_in"] as? Int == Int(input))
        #expect(event["off_in"] as? Int == 0) // the offset at entry, not the advanced one
        #expect(event["fd_out"] as? Int == Int(output))
        #expect(event["off_out"] is NSNull)
        #expect(event["len"] as? Int == 1 << 20)
        #expect(event["flags"] as? [String] == [])
        var inStat = stat(), outStat = stat()
        stat(inPath, &inStat)
        stat(outPath, &outStat)
        let fileIn = try #require(event["file_in"] as? [String: Any])
        #expect(fileIn["ino"] as? Int == Int(inStat.st_ino))
        #expect(fileIn["dev"] as? String == "\(st_dev_major(UInt64(inStat.st_dev))):\(st_dev_minor(UInt64(inStat.st_dev)))")
        #expect(fileIn["name"] as? String == "in.bin")
        let fileOut = try #require(event["file_out"] as? [String: Any])
        #expect(fileOut["ino"] as? Int == Int(outStat.st_ino))
        #expect(fileOut["name"] as? String == "out.bin")
    }

    /// in.bin (64 bytes, open to read) and out.bin (empty, open to write) in `scratch`.
    func smallCopyFiles(in scratch: Scratch) throws -> (input: Int32, output: Int32, outPath: String) {
        let inPath = scratch.path + "/in.bin", outPath = scratch.path + "/out.bin"
        FileManager.default.createFile(atPath: inPath, contents: Data(repeating: 1, count: 64))
        let input = try check(open(inPath, O_RDONLY), "open in")
        let output = try check(open(outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600), "open out")
        return (input, output, outPath)
    }

    /// The caller's name is read with two plain 8-byte loads on the task-BTF
    /// path and with bpf_get_current_comm() on the other: names that end in
    /// the first word, fill it, end in the second, fill the name, and are
    /// cut at 15 bytes must come out alike on both.
    @Test(arguments: [false, true])
    func commIsTheThreadNameAtEveryLength(legacyTaskState: Bool) throws {
        let scratch = Scratch()
        let (input, output, _) = try smallCopyFiles(in: scratch)
        defer { close(input); close(output) }
        // Writing /proc/thread-self/comm renames this thread (prctl is variadic, out of Swift's reach).
        let commPath = "/proc/thread-self/comm"
        let original = try String(contentsOfFile: commPath, encoding: .utf8)
        func rename(_ name: String) throws { try name.write(toFile: commPath, atomically: false, encoding: .utf8) }
        defer { try? rename(original.trimmingCharacters(in: .newlines)) }
        let names = ["a", "abcdefg", "abcdefgh", "abcdefghijklmno", "abcdefghijklmnopqrst", "x"]
        let (events, _) = try traceSelf(legacyTaskState: legacyTaskState, kinds: [.copyFileRange]) {
            for name in names {
                try rename(name)
                var offset: Int64 = 0
                #expect(st_copy_file_range(input, &offset, output, nil, 1, 0) == 1)
            }
        }
        let comms = events.filter { $0["type"] as? String == "copy_file_range" }.map { $0["comm"] as? String }
        #expect(comms == ["a", "abcdefg", "abcdefgh", "abcdefghijklmno", "abcdefghijklmno", "x"])
    }

    /// A descriptor that is closed, or beyond the table, has no file: both
    /// ways of reading the table give the empty file, not a fault.
    @Test(arguments: [false, true])
    func copyWithoutAnOpenFileHasAnEmptyFile(helperFileReads: Bool) throws {
        let scratch = Scratch()
        let (input, output, outPath) = try smallCopyFiles(in: scratch)
        defer { close(input); close(output) }
        // A slot inside the table (grown to hold it) that no other thread
        // gets: descriptors are handed out lowest first.
        let closed: Int32 = 1000
        try check(dup2(input, closed), "dup2")
        close(closed)
        let (events, _) = try traceSelf(helperFileReads: helperFileReads, kinds: [.copyFileRange]) {
            #expect(st_copy_file_range(closed, nil, output, nil, 1, 0) == -1 && errno == EBADF)
            #expect(st_copy_file_range(input, nil, 1 << 20, nil, 1, 0) == -1 && errno == EBADF)
        }
        let copies = events.filter { $0["type"] as? String == "copy_file_range" }
        #expect(copies.count == 2)
        var outStat = stat()
        stat(outPath, &outStat)
        for (event, missing) in zip(copies, ["file_in", "file_out"]) {
            try commonFields(event, type: "copy_file_range", ret: -9, errno: "EBADF")
            let file = try #require(event[missing] as? [String: Any])
            #expect(file.count == 3, "\(file)")
            #expect(file["dev"] as? String == "0:0")
            #expect(file["ino"] as? Int == 0)
            #expect(file["name"] is NSNull)
        }
        let present = try #require(copies.first?["file_out"] as? [String: Any])
        #expect(present["ino"] as? Int == Int(outStat.st_ino))
        #expect(present["name"] as? String == "out.bin")
    }

    /// Directory removals are traced for their EBUSY failures only: a
    /// mount point's rmdir and unlinkat(AT_REMOVEDIR) come out, a removal
    /// that works, one that fails otherwise and an unlink of a file do not,
    /// and nothing counts as an exit without entry. Both BPF paths.
    @Test(arguments: [false, true])
    func directoryRemovalsThatFailWithEBUSY(legacyTaskState: Bool) throws {
        let scratch = Scratch()
        let busy = scratch.dir("busy"), empty = scratch.dir("empty"), file = scratch.path + "/file"
        try check(mount("tmpfs", busy, "tmpfs", 0, "size=1m"), "mount tmpfs")
        defer { umount2(busy, Int32(MNT_DETACH)) }
        #expect(creat(file, 0o644) >= 0)
        let (events, losses) = try traceSelf(legacyTaskState: legacyTaskState) {
            #expect(rmdir(busy) == -1 && errno == EBUSY)
            #expect(unlinkat(AT_FDCWD, busy, AT_REMOVEDIR) == -1 && errno == EBUSY)
            #expect(rmdir(scratch.path + "/missing") == -1 && errno == ENOENT)
            #expect(rmdir(empty) == 0)
            #expect(unlinkat(AT_FDCWD, file, 0) == 0)
        }
        let removals = events.filter { ["rmdir", "unlinkat"].contains($0["type"] as? String) }
        #expect(removals.count == 2, "\(removals)")
        let rmdirEvent = try #require(removals.first { $0["type"] as? String == "rmdir" })
        try commonFields(rmdirEvent, type: "rmdir", ret: -16, errno: "EBUSY")
        #expect(rmdirEvent["path"] as? String == busy)
        let unlinkatEvent = try #require(removals.first { $0["type"] as? String == "unlinkat" })
        try commonFields(unlinkatEvent, type: "unlinkat", ret: -16, errno: "EBUSY")
        #expect(unlinkatEvent["dfd"] as? Int == Int(AT_FDCWD))
        #expect(unlinkatEvent["path"] as? String == busy)
        #expect(unlinkatEvent["flags"] as? [String] == ["AT_REMOVEDIR"])
        #expect(losses.exitUnmatched == 0)
        #expect(losses.lost == 0)
    }

    /// Both ways of reading the open files (plain loads, helper calls).
    @Test(arguments: [false, true])
    func sendfileAndSplice(helperFileReads: Bool) throws {
        let scratch = Scratch()
        let inPath = scratch.path + "/src", outPath = scratch.path + "/dst"
        FileManager.default.createFile(atPath: inPath, contents: Data(repeating: 7, count: 65536))
        let input = try check(open(inPath, O_RDONLY), "open in")
        let output = try check(open(outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600), "open out")
        var pipeFDs: [Int32] = [0, 0]
        try check(pipe(&pipeFDs), "pipe")
        defer { for fd in [input, output] + pipeFDs { close(fd) } }
        var offset: off_t = 4096
        var sent = 0, spliced = 0
        let (events, _) = try traceSelf(helperFileReads: helperFileReads, kinds: [.sendfile, .splice]) {
            sent = sendfile(output, input, &offset, 8192)
            spliced = st_splice(input, nil, pipeFDs[1], nil, 4096, 1 | 4 /* SPLICE_F_MOVE|SPLICE_F_MORE */)
        }
        #expect(sent == 8192 && spliced == 4096)
        let sendEvent = try #require(events.first { $0["type"] as? String == "sendfile" })
        try commonFields(sendEvent, type: "sendfile", ret: 8192, errno: nil)
        #expect(sendEvent["out_fd"] as? Int == Int(output))
        #expect(sendEvent["in_fd"] as? Int == Int(input))
        #expect(sendEvent["offset"] as? Int == 4096)
        #expect(sendEvent["count"] as? Int == 8192)
        #expect((sendEvent["file_in"] as? [String: Any])?["name"] as? String == "src")
        #expect((sendEvent["file_out"] as? [String: Any])?["name"] as? String == "dst")

        let spliceEvent = try #require(events.first { $0["type"] as? String == "splice" })
        try commonFields(spliceEvent, type: "splice", ret: 4096, errno: nil)
        #expect(spliceEvent["fd_in"] as? Int == Int(input))
        #expect(spliceEvent["off_in"] is NSNull)
        #expect(spliceEvent["fd_out"] as? Int == Int(pipeFDs[1]))
        #expect(spliceEvent["len"] as? Int == 4096)
        #expect(spliceEvent["flags"] as? [String] == ["SPLICE_F_MOVE", "SPLICE_F_MORE"])
    }

    /// The namespace is read through the task's BTF pointer, or (before
    /// Linux 5.11) with helper reads: both must find the other namespace.
    @Test(arguments: [false, true])
    func mountInAnotherNamespaceCarriesItsNamespace(legacyTaskState: Bool) throws {
        let scratch = Scratch()
        let source = scratch.dir("ns-source"), target = scratch.dir("ns-target")
        var options = TracerOptions()
        options.kinds = [.mount]
        options.forceLegacyTaskState = legacyTaskState
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        let collector = TraceCollector()
        let tracer = try SyscallTracer(options: options, tracefs: tracefs)
        defer { tracer.close() }
        let unshare = Process()
        unshare.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        unshare.arguments = ["-m", "--propagation", "private", "sh", "-c",
                             "mount --bind \(source) \(target) && readlink /proc/self/ns/mnt"]
        let output = Pipe()
        unshare.standardOutput = output
        try unshare.run()
        unshare.waitUntilExit()
        #expect(unshare.terminationStatus == 0)
        let link = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let namespace = Int(link.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst(5).dropLast())
        while tracer.poll(timeoutMilliseconds: 50, collector.handle) > 0 {}
        let event = try #require(collector.objects.of(type: "mount", where: "target", is: target).first)
        #expect(event["mntns"] as? Int == namespace)
        #expect(event["mntns"] as? Int != (try selfMountNamespace()))
        #expect(event["comm"] as? String == "mount")
        #expect(event["flags"] as? [String] == ["MS_BIND"])
    }

    /// The done-when of the core: 100,000 bind mount/umount pairs give
    /// 200,000 events, or a drop count that accounts for every missing one.
    @Test func mountStormLosesNothingSilently() throws {
        let scratch = Scratch()
        let source = scratch.dir("storm-source"), target = scratch.dir("storm-target")
        let pairs = 100_000
        var options = TracerOptions()
        options.targetPID = UInt32(getpid())
        options.kinds = [.mount, .umount]
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        var mounts = 0, umounts = 0, failures = 0
        let tracer = try SyscallTracer(options: options, tracefs: tracefs)
        let count = { (raw: RawRecord) in
            guard let record = try? SyscallRecord(validating: raw.bytes) else { return }
            guard record.string(1).map({ $0.elementsEqual(target.utf8) }) == true
                    || record.string(0).map({ $0.elementsEqual(target.utf8) }) == true else { return }
            if record.errno != nil { failures += 1 }
            if record.kind == .mount { mounts += 1 } else { umounts += 1 }
        }
        defer { tracer.close() }
        let done = ManagedAtomicFlag()
        let workload = Thread {
            for _ in 0..<pairs {
                mount(source, target, nil, UInt(MS_BIND), nil)
                umount2(target, 0)
            }
            done.set()
        }
        workload.start()
        while !done.isSet { tracer.poll(timeoutMilliseconds: 10, count) }
        while tracer.poll(timeoutMilliseconds: 50, count) > 0 {}
        let losses = tracer.counters()
        #expect(failures == 0)
        #expect(UInt64(mounts + umounts) + losses.lost == UInt64(2 * pairs),
                "\(mounts) mounts + \(umounts) umounts + \(losses.lost) lost != \(2 * pairs)")
    }

    /// The decode loop in steady state: consume, validate, filter and render
    /// JSON for thousands of real events without a single heap allocation.
    @Test func decodeLoopAllocatesNothingPerEvent() throws {
        let scratch = Scratch()
        let source = scratch.dir("alloc-source"), target = scratch.dir("alloc-target")
        var options = TracerOptions()
        options.targetPID = UInt32(getpid())
        options.kinds = [.mount, .umount]
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        let null = open("/dev/null", O_WRONLY)
        defer { close(null) }
        let clock = KernelClock.measureOffset()
        // This process in a cgroup shaped like a pod's, so every event also
        // looks up and renders its pod; moved back to the root after.
        let cgroups = CgroupResolver()
        let unified = try #require(cgroups.unifiedMount)
        let fake = FakePodCgroups()
        let uid = UUID().uuidString.lowercased()
        let scope = try fake.make(unified, "kubepods.slice/kubepods-pod\(uid.replacingOccurrences(of: "-", with: "_")).slice/cri-containerd-\(String(repeating: "ab", count: 32)).scope")
        try "\(getpid())".write(toFile: scope + "/cgroup.procs", atomically: false, encoding: .utf8)
        defer {
            try? "\(getpid())".write(toFile: unified + "/cgroup.procs", atomically: false, encoding: .utf8)
            fake.remove()
        }
        // Only the pod's events pass: every event shown was looked up and found.
        var filter = EventFilter()
        filter.podUIDs = [Array(uid.utf8)]
        cgroups.refresh()
        for format in OutputFormat.allCases {
            // The pipeline as `live` builds it: decode, find the pod, filter, print.
            let decoder = EventDecoder()
            decoder.pods.resolve(with: cgroups)
            let printer = EventPrinter(format: format, text: TextRenderer(color: true, utcOffsetSeconds: 0, clock: clock),
                                       json: JSONRenderer(clock: clock), sink: OutputSink(fd: null), decoder: decoder)
            let pipeline = Pipeline(filter: filter, decoder: decoder, consumers: [printer], merging: false)
            let tracer = try SyscallTracer(options: options, tracefs: tracefs)
            defer { tracer.close() }
            let submit = { (raw: RawRecord) in pipeline.submit(raw) } // made once, as SourceDriver does
            func burst(_ count: Int) {
                for _ in 0..<count {
                    mount(source, target, nil, UInt(MS_BIND), nil)
                    umount2(target, 0)
                }
            }
            let (events, allocations) = countAllocations(tracer: tracer, pipeline: pipeline, submit: submit, burst: burst)
            #expect(events >= 10_000, "\(format): \(events) events")
            #expect(printer.sink.failure == nil)
            #expect(decoder.pods.unresolvedEvents == 0)
            #expect(allocations == 0, "\(format): \(allocations) allocations for \(events) events, the first of \(st_alloc_first_size()) bytes")
        }
    }
}

}

/// A flag one thread sets and another polls.
final class ManagedAtomicFlag: @unchecked Sendable {
    private var value = false
    private let lock = NSLock()
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// Heap allocations while the pipeline takes what `burst(5_000)` made, after
/// `burst(200)` warmed it up (the output buffer grows to its working size).
func countAllocations(tracer: SyscallTracer, pipeline: Pipeline, submit: @escaping (RawRecord) -> Void,
                      burst: (Int) -> Void) -> (events: UInt64, allocations: Int) {
    burst(200)
    tracer.drain(submit)
    pipeline.batchEnded()
    burst(5_000)
    let before = pipeline.counts.shown
    st_alloc_counting_begin()
    tracer.drain(submit)
    pipeline.batchEnded()
    let allocations = st_alloc_counting_end()
    return (pipeline.counts.shown - before, Int(allocations))
}
