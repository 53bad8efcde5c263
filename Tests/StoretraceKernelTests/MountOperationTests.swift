import CStoretraceSys
import Foundation
import Glibc
import StoretraceAnalyze
import StoretraceDecode
import StoretraceFixtures
import StoretraceKernel
import StoretraceRecords
import Testing

/// The new mount API called for real, traced by BPF, and the records fed
/// to a MountOperationTracker: each operation must come out whole, with the
/// words, calls and outcome the kernel's answers imply. Mounts are made
/// under a Scratch directory, which detaches whatever a failed test left.
extension KernelTests {
@Suite struct MountOperationTests {
    let pid = UInt32(getpid())

    /// Traces this process around `workload` and returns the operations the
    /// tracker reported, including those still pending when tracing stopped.
    /// Records are fed in time order, as the pipeline merges them.
    func traceOperations(_ workload: () throws -> Void) throws -> [MountOperation] {
        var options = TracerOptions()
        options.targetPID = pid
        options.kinds = SyscallKind.allCases.filter { !$0.movesData }
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        var records: [[UInt8]] = []
        var malformed = 0
        let tracer = try SyscallTracer(options: options, tracefs: tracefs)
        defer { tracer.close() }
        try workload()
        while tracer.poll(timeoutMilliseconds: 50, { raw in
            if (try? SyscallRecord(validating: raw.bytes)) != nil { records.append(Array(raw.bytes)) } else { malformed += 1 }
        }) > 0 {}
        #expect(malformed == 0)
        #expect(tracer.counters().lost == 0)

        var operations: [MountOperation] = []
        let tracker = MountOperationTracker { operations.append($0) }
        var last: UInt64 = 0
        for bytes in records.sorted(by: { timestamp($0) < timestamp($1) }) {
            try bytes.withRecord { record in
                last = max(last, record.timestamp + record.latency)
                tracker.track(record)
            }
        }
        tracker.finish(at: last + 1)
        #expect(tracker.counters.overflows == 0)
        return operations
    }

    private func timestamp(_ bytes: [UInt8]) -> UInt64 {
        (try? bytes.withRecord { $0.timestamp }) ?? 0
    }

    /// Fields every operation of this test process carries.
    func checkIdentity(_ operation: MountOperation, calls: Int) throws {
        #expect(operation.pid == pid)
        #expect(operation.tids == [UInt32(st_gettid())])
        #expect(Int(operation.mountNamespace) == (try selfMountNamespace()))
        #expect(!operation.comm.isEmpty)
        #expect(operation.calls.reduce(0) { $0 + $1.count } == calls)
        #expect(operation.latency > 0)
        #expect(operation.end > operation.start)
        #expect(operation.end - operation.start >= operation.latency)
    }

    @Test func tmpfsWithOptionsThroughFsopenFsconfigFsmountMoveMount() throws {
        let scratch = Scratch()
        let target = scratch.dir("tmpfs")
        var statistics = statvfs()
        let operations = try traceOperations {
            let fsFD = try check(st_fsopen("tmpfs", 1 /* FSOPEN_CLOEXEC */), "fsopen")
            defer { close(fsFD) }
            try check(st_fsconfig(fsFD, 1 /* SET_STRING */, "source", "storetrace-test", 0), "fsconfig source")
            try check(st_fsconfig(fsFD, 1, "size", "16m", 0), "fsconfig size")
            try check(st_fsconfig(fsFD, 1, "mode", "0755", 0), "fsconfig mode")
            try check(st_fsconfig(fsFD, 6 /* CMD_CREATE */, nil, nil, 0), "fsconfig create")
            let mountFD = try check(st_fsmount(fsFD, 1 /* FSMOUNT_CLOEXEC */, 0x4 /* MOUNT_ATTR_NODEV */), "fsmount")
            defer { close(mountFD) }
            try check(st_move_mount(mountFD, "", -100, target, 0x4 /* F_EMPTY_PATH */), "move_mount")
            try check(statvfs(target, &statistics), "statvfs")
        }
        #expect(UInt64(statistics.f_blocks) * UInt64(statistics.f_frsize) == 16 << 20) // size=16m took
        #expect(operations.map(mountOperationDescription) == [
            "new mount of tmpfs \"storetrace-test\" on \"\(target)\" with size=16m,mode=0755,nodev (fsopen, fsconfig ×4, fsmount, move_mount) = ok",
        ])
        let operation = try #require(operations.first)
        try checkIdentity(operation, calls: 7)
        #expect(operation.action == .newMount)
        #expect(operation.attrSet == 0x4)
        #expect(operation.outcome == .succeeded)
    }

    @Test func bindAndRecursiveBindThroughOpenTree() throws {
        let scratch = Scratch()
        let source = scratch.dir("source"), inner = scratch.dir("source/inner")
        let bind = scratch.dir("bind"), rbind = scratch.dir("rbind")
        try check(mount("none", inner, "tmpfs", 0, "size=1m"), "mount inner tmpfs") // so that recursion matters
        let operations = try traceOperations {
            let treeFD = try check(st_open_tree(-100, source, 0x1 | 0x80000 /* CLONE|CLOEXEC */), "open_tree")
            defer { close(treeFD) }
            try check(st_move_mount(treeFD, "", -100, bind, 0x4), "move_mount bind")
            let recursiveFD = try check(st_open_tree(-100, source, 0x1 | 0x80000 | 0x8000 /* |AT_RECURSIVE */), "open_tree -R")
            defer { close(recursiveFD) }
            try check(st_mount_setattr(recursiveFD, "", 0x1000 | 0x8000 /* AT_EMPTY_PATH|AT_RECURSIVE */, 0x1 /* RDONLY */, 0, 0),
                      "mount_setattr ro")
            try check(st_move_mount(recursiveFD, "", -100, rbind, 0x4), "move_mount rbind")
        }
        #expect(mountPoints(under: scratch.path) == [inner, bind, rbind, rbind + "/inner"].sorted())
        #expect(operations.map(mountOperationDescription) == [
            "bind of \"\(source)\" on \"\(bind)\" (open_tree, move_mount) = ok",
            "recursive bind of \"\(source)\" on \"\(rbind)\" with ro (open_tree, mount_setattr, move_mount) = ok",
        ])
        try checkIdentity(operations[0], calls: 2)
        try checkIdentity(operations[1], calls: 3)
        #expect(operations.map(\.action) == [.bind(recursive: false), .bind(recursive: true)])
    }

    @Test func remountReadOnlyThroughFspickAndMountSetattr() throws {
        let scratch = Scratch()
        let target = scratch.dir("ro")
        var superblock = statvfs(), afterSetattr = statvfs()
        let operations = try traceOperations {
            try check(mount("none", target, "tmpfs", 0, "size=1m"), "mount")
            // util-linux 2.39's `mount -o remount,ro`: the tree, fspick on it, reconfigure, the mount flag.
            let treeFD = try check(st_open_tree(-100, target, 0x80000 /* OPEN_TREE_CLOEXEC */), "open_tree")
            defer { close(treeFD) }
            let pickFD = try check(st_fspick(treeFD, "", 0x8 | 0x4 | 0x1 /* EMPTY_PATH|NO_AUTOMOUNT|CLOEXEC */), "fspick")
            defer { close(pickFD) }
            try check(st_fsconfig(pickFD, 0 /* SET_FLAG */, "ro", nil, 0), "fsconfig ro")
            try check(st_fsconfig(pickFD, 7 /* CMD_RECONFIGURE */, nil, nil, 0), "fsconfig reconfigure")
            try check(statvfs(target, &superblock), "statvfs")
            try check(st_mount_setattr(treeFD, "", 0x1000 /* AT_EMPTY_PATH */, 0x1 /* RDONLY */, 0, 0), "mount_setattr")
            try check(statvfs(target, &afterSetattr), "statvfs")
        }
        #expect(superblock.f_flag & UInt(ST_RDONLY) != 0)
        #expect(afterSetattr.f_flag & UInt(ST_RDONLY) != 0)
        #expect(operations.map(mountOperationDescription) == [
            "new mount of tmpfs \"none\" on \"\(target)\" with size=1m (mount) = ok",
            "remount of \"\(target)\" with ro (open_tree, fspick, fsconfig ×2) = ok",
            "mount flags of \"\(target)\" set to ro (mount_setattr) = ok",
        ])
        try checkIdentity(operations[1], calls: 4)
        #expect(operations.map(\.action) == [.newMount, .remount, .mountFlags])
    }

    @Test func propagationThroughMountSetattr() throws {
        let scratch = Scratch()
        let target = scratch.dir("propagation")
        try check(mount("none", target, "tmpfs", 0, "size=1m"), "mount")
        try check(mount("none", scratch.dir("propagation/sub"), "tmpfs", 0, "size=1m"), "mount sub")
        var sharedLine: String?
        let operations = try traceOperations {
            try check(st_mount_setattr(-100, target, 0, 0, 0, UInt64(MS_SHARED)), "mount_setattr shared")
            sharedLine = mountInfoLine(of: target)
            try check(st_mount_setattr(-100, target, 0x8000 /* AT_RECURSIVE */, 0, 0, UInt64(MS_PRIVATE)), "mount_setattr rprivate")
        }
        #expect(sharedLine?.contains(" shared:") == true)
        #expect(mountInfoLine(of: target)?.contains(" shared:") == false)
        #expect(operations.map(mountOperationDescription) == [
            "propagation of \"\(target)\" set to shared (mount_setattr) = ok",
            "propagation of \"\(target)\" and below set to private (mount_setattr) = ok",
        ])
        try checkIdentity(operations[0], calls: 1)
        #expect(operations.map(\.propagation) == [UInt64(MS_SHARED), UInt64(MS_PRIVATE)])
    }

    @Test func failingCreateNamesTheStepAndTheKernelsErrno() throws {
        let scratch = Scratch()
        let image = scratch.path + "/not-a-device"
        #expect(FileManager.default.createFile(atPath: image, contents: Data(count: 4096)))
        var createErrno: Int32 = 0, fsFD: Int32 = -1
        let operations = try traceOperations {
            fsFD = try check(st_fsopen("ext4", 1), "fsopen")
            defer { close(fsFD) }
            try check(st_fsconfig(fsFD, 1, "source", image, 0), "fsconfig source")
            try check(st_fsconfig(fsFD, 0, "noload", nil, 0), "fsconfig noload")
            #expect(st_fsconfig(fsFD, 6 /* CMD_CREATE */, nil, nil, 0) == -1)
            createErrno = errno
        }
        // A regular file is no block device: the kernel refuses at create.
        #expect(createErrno == ENOTBLK)
        #expect(operations.map(mountOperationDescription) == [
            "new mount of ext4 \"\(image)\" with noload (fsopen, fsconfig ×3) failed at fsconfig(\(fsFD), FSCONFIG_CMD_CREATE, NULL, NULL, 0) = -1 ENOTBLK",
        ])
        let operation = try #require(operations.first)
        try checkIdentity(operation, calls: 4)
        guard case .failed(let failure) = operation.outcome else {
            Issue.record("not a failure: \(operation.outcome)")
            return
        }
        #expect(failure.kind == .fsconfig && failure.errno == ENOTBLK)
    }

    @Test func aRejectedParameterThenTheMountGoesOn() throws {
        let scratch = Scratch()
        let target = scratch.dir("goes-on")
        var rejected: Int32 = 0
        let operations = try traceOperations {
            let fsFD = try check(st_fsopen("tmpfs", 1), "fsopen")
            defer { close(fsFD) }
            try check(st_fsconfig(fsFD, 1, "size", "2m", 0), "fsconfig size")
            #expect(st_fsconfig(fsFD, 1, "huge", "sometimes", 0) == -1) // not a tmpfs huge= value
            rejected = errno
            try check(st_fsconfig(fsFD, 6, nil, nil, 0), "fsconfig create")
            let mountFD = try check(st_fsmount(fsFD, 1, 0), "fsmount")
            defer { close(mountFD) }
            try check(st_move_mount(mountFD, "", -100, target, 0x4), "move_mount")
        }
        #expect(rejected == EINVAL)
        #expect(mountPoints(under: scratch.path) == [target])
        let descriptions = operations.map(mountOperationDescription)
        #expect(descriptions.count == 2)
        #expect(descriptions.first?.hasPrefix("new mount of tmpfs with size=2m (fsopen, fsconfig ×2) failed at fsconfig(") == true)
        #expect(descriptions.first?.hasSuffix(", FSCONFIG_SET_STRING, \"huge\", \"sometimes\", 0) = -1 EINVAL") == true)
        #expect(descriptions.last == "new mount of tmpfs on \"\(target)\" with size=2m (fsconfig, fsmount, move_mount) = ok")
    }

    @Test func aClosedContextWhoseNumberComesBackIsReportedIncomplete() throws {
        var first: Int32 = -1, second: Int32 = -1
        let operations = try traceOperations {
            first = try check(st_fsopen("tmpfs", 1), "fsopen")
            try check(st_fsconfig(first, 1, "size", "1m", 0), "fsconfig")
            close(first) // not traced: the next fsopen gets the number back
            second = try check(st_fsopen("tmpfs", 1), "fsopen again")
            close(second)
        }
        #expect(first == second)
        #expect(operations.map(mountOperationDescription) == [
            "new mount of tmpfs with size=1m (fsopen, fsconfig) incomplete: filesystem never created (fd \(first) closed: its number was reused)",
            "new mount of tmpfs (fsopen) incomplete: filesystem never created (tracing stopped)",
        ])
    }

    @Test func classicUnmountsInTheSameWords() throws {
        let scratch = Scratch()
        let target = scratch.dir("classic")
        let operations = try traceOperations {
            try check(mount("none", target, "tmpfs", UInt(MS_NOATIME), "size=1m"), "mount")
            #expect(umount2(scratch.path, 0) == -1) // not a mount point
            try check(umount2(target, Int32(MNT_DETACH)), "umount -l")
        }
        #expect(operations.map(mountOperationDescription) == [
            "new mount of tmpfs \"none\" on \"\(target)\" with noatime,size=1m (mount) = ok",
            "unmount of \"\(scratch.path)\" (umount2) failed at umount2(\"\(scratch.path)\", 0) = -1 EINVAL",
            "lazy unmount of \"\(target)\" (umount2) = ok",
        ])
    }
}
}

/// Mount points below `prefix` in this process's mount table, sorted.
func mountPoints(under prefix: String) -> [String] {
    guard let table = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
    return table.split(separator: "\n").compactMap { line -> String? in
        let fields = line.split(separator: " ")
        return fields.count > 4 && fields[4].hasPrefix(prefix + "/") ? String(fields[4]) : nil
    }.sorted()
}

/// The last /proc/self/mountinfo line of the mount at `path` (the top one).
func mountInfoLine(of path: String) -> String? {
    guard let table = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
    return table.split(separator: "\n").last { $0.split(separator: " ").dropFirst(4).first.map(String.init) == path }
        .map(String.init)
}
