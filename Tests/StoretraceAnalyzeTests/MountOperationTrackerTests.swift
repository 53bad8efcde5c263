import StoretraceFixtures
import Testing
import StoretraceAnalyze
import StoretraceDecode
import StoretraceRender

/// 2026-11-23T14:07:31.123456789Z for a monotonic timestamp of 1 s.
let clock = ClockOffset(realtimeMinusMonotonic: 1_795_442_851_123_456_789 - 1_000_000_000)
let cwd = FlagTables.atFDCWD

// fsconfig commands
let setFlag: UInt64 = 0, setString: UInt64 = 1, setBinary: UInt64 = 2, setPath: UInt64 = 3, setFD: UInt64 = 5
let cmdCreate: UInt64 = 6, cmdReconfigure: UInt64 = 7
// open_tree, mount_setattr, move_mount flags
let openTreeClone: UInt64 = 0x1, openTreeCloexec: UInt64 = 0x80000, atRecursive: UInt64 = 0x8000
let atEmptyPath: UInt64 = 0x1000, emptyPath: UInt64 = 0x4 /* MOVE_MOUNT_F_EMPTY_PATH */
let attrRdonly: UInt64 = 0x1, attrNosuid: UInt64 = 0x2, attrNodev: UInt64 = 0x4, attrNoatime: UInt64 = 0x10
let msPrivate: UInt64 = 0x40000, msShared: UInt64 = 0x100000

/// Feeds records to a tracker and keeps what it reports.
final class Run {
    var operations: [MountOperation] = []
    private(set) var tracker: MountOperationTracker!

    init() {
        tracker = MountOperationTracker { [unowned self] in self.operations.append($0) }
    }

    @discardableResult
    func feed(_ calls: [RecordBuilder], timed: Bool = true) throws -> Run {
        for call in timed ? inSequence(calls) : calls {
            try call.bytes.withRecord { tracker.track($0) }
        }
        return self
    }

    var descriptions: [String] { operations.map(mountOperationDescription) }
}

func text(_ operation: MountOperation) -> String {
    var out = OutputBuffer()
    TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock).renderMountOperation(operation, into: &out)
    return String(decoding: out.bytes, as: UTF8.self)
}

func json(_ operation: MountOperation) -> String {
    var out = OutputBuffer()
    JSONRenderer(clock: clock).renderMountOperation(operation, into: &out)
    return String(decoding: out.bytes, as: UTF8.self)
}

@Suite struct NewMountAPITests {
    /// mount -t tmpfs -o size=16m,mode=0755 none /d, as util-linux 2.39 does it.
    static let tmpfs: [RecordBuilder] = [
        .fsopenCall("tmpfs", ret: 3),
        .fsconfigCall(3, setString, "source", "none"),
        .fsconfigCall(3, setString, "size", "16m"),
        .fsconfigCall(3, setString, "mode", "0755"),
        .fsconfigCall(3, cmdCreate),
        .fsmountCall(3, ret: 4),
        .moveMountCall(4, "", cwd, "/d"),
    ]

    @Test func newMountOfTmpfsWithOptions() throws {
        let run = try Run().feed(Self.tmpfs)
        #expect(run.operations.count == 1)
        let operation = try #require(run.operations.first)
        #expect(operation.action == .newMount)
        #expect(operation.outcome == .succeeded)
        #expect(operation.pid == 4120 && operation.tids == [4121])
        #expect(operation.comm == Array("mount".utf8))
        #expect(operation.mountNamespace == 4026531841)
        #expect(operation.start == 1_000_000_000)
        #expect(operation.end == 1_000_600_000 + 10_000) // the seventh call's exit
        #expect(operation.latency == 7 * 10_000)
        #expect(operation.calls == [.init(kind: .fsopen, count: 1), .init(kind: .fsconfig, count: 4),
                                    .init(kind: .fsmount, count: 1), .init(kind: .moveMount, count: 1)])
        #expect(operation.fstype == Array("tmpfs".utf8))
        #expect(operation.source == .init(path: Array("none".utf8)))
        #expect(operation.target == .init(path: Array("/d".utf8)))
        #expect(operation.options == [.init(key: Array("size".utf8), value: .string(Array("16m".utf8))),
                                      .init(key: Array("mode".utf8), value: .string(Array("0755".utf8)))])
        #expect(text(operation) == "14:07:31.123456  mount[4120]            mnt:4026531841     70.0µs  mount_op: new mount of tmpfs \"none\" on \"/d\" with size=16m,mode=0755 (fsopen, fsconfig ×4, fsmount, move_mount) = ok\n")
        #expect(json(operation) == """
            {"time":"2026-11-23T14:07:31.123456789Z","type":"mount_op","pid":4120,"tid":4121,"comm":"mount","mntns":4026531841,\
            "end_time":"2026-11-23T14:07:31.124066789Z","latency_ns":70000,"operation":"new_mount","result":"ok",\
            "fstype":"tmpfs","source":"none","target":"/d","options":["size=16m","mode=0755"],"options_dropped":0,\
            "mount_flags":[],"umount_flags":[],"attr_set":[],"attr_clr":[],"propagation":[],"recursive":false,\
            "calls":[{"call":"fsopen","count":1},{"call":"fsconfig","count":4},{"call":"fsmount","count":1},{"call":"move_mount","count":1}],\
            "calls_not_listed":0,"tids":[4121],"errno":null,"failed_call":null,"incomplete":null}

            """)
    }

    @Test func mountAttributesFromFsmountAndPropagationAfterTheMove() throws {
        // fsmount with nodev|noatime, then (util-linux's POST stage) the propagation on the same fd.
        let run = try Run().feed([
            .fsopenCall("tmpfs", ret: 3),
            .fsconfigCall(3, setFlag, "noswap"),
            .fsconfigCall(3, cmdCreate),
            .fsmountCall(3, attrFlags: attrNodev | attrNoatime, ret: 4),
            .moveMountCall(4, "", cwd, "/d"),
            .mountSetattrCall(4, "", flags: atEmptyPath, propagation: msPrivate),
        ])
        #expect(run.descriptions == [
            "new mount of tmpfs on \"/d\" with noswap,noatime,nodev (fsopen, fsconfig ×2, fsmount, move_mount) = ok",
            "propagation of \"/d\" set to private (mount_setattr) = ok",
        ])
        #expect(run.operations[0].attrSet == attrNodev | attrNoatime)
        #expect(run.operations[1].action == .propagation)
        #expect(run.operations[1].propagation == msPrivate)
    }

    @Test func failedCreateNamesTheCallAndItsArguments() throws {
        let run = try Run().feed([
            .fsopenCall("tmpfs", ret: 3),
            .fsconfigCall(3, setString, "size", "16x"),
            .fsconfigCall(3, cmdCreate, ret: -22),
        ])
        let operation = try #require(run.operations.first)
        guard case .failed(let failure) = operation.outcome else {
            Issue.record("not failed: \(operation.outcome)")
            return
        }
        #expect(failure.kind == .fsconfig && failure.errno == 22)
        #expect(run.descriptions == [
            "new mount of tmpfs with size=16x (fsopen, fsconfig ×2) failed at fsconfig(3, FSCONFIG_CMD_CREATE, NULL, NULL, 0) = -1 EINVAL",
        ])
        #expect(json(operation) == """
            {"time":"2026-11-23T14:07:31.123456789Z","type":"mount_op","pid":4120,"tid":4121,"comm":"mount","mntns":4026531841,\
            "end_time":"2026-11-23T14:07:31.123666789Z","latency_ns":30000,"operation":"new_mount","result":"failed",\
            "fstype":"tmpfs","source":null,"target":null,"options":["size=16x"],"options_dropped":0,\
            "mount_flags":[],"umount_flags":[],"attr_set":[],"attr_clr":[],"propagation":[],"recursive":false,\
            "calls":[{"call":"fsopen","count":1},{"call":"fsconfig","count":2}],"calls_not_listed":0,"tids":[4121],\
            "errno":"EINVAL","failed_call":{"type":"fsconfig","time":"2026-11-23T14:07:31.123656789Z","tid":4121,\
            "ret":-22,"errno":"EINVAL","latency_ns":10000,"fd":3,"cmd":"FSCONFIG_CMD_CREATE","key":null,"value":null,"aux":0},\
            "incomplete":null}

            """)
        // The context is remembered: nothing is left pending.
        #expect(run.tracker.pendingOperations == 0)
    }

    @Test func aRejectedParameterFailsAndTheMountGoesOnWithWhatWasSet() throws {
        // The kernel keeps the context after a rejected parameter; this program goes on.
        let run = try Run().feed([
            .fsopenCall("tmpfs", ret: 3),
            .fsconfigCall(3, setString, "size", "16m"),
            .fsconfigCall(3, setString, "huge", "sometimes", ret: -22),
            .fsconfigCall(3, cmdCreate),
            .fsmountCall(3, ret: 4),
            .moveMountCall(4, "", cwd, "/d"),
            .openTreeCall(cwd, "/a", flags: openTreeClone, ret: 5),
            .moveMountCall(5, "", cwd, "/missing", ret: -2),
            .moveMountCall(5, "", cwd, "/b"), // tried again elsewhere
        ])
        #expect(run.descriptions == [
            "new mount of tmpfs with size=16m (fsopen, fsconfig ×2) failed at fsconfig(3, FSCONFIG_SET_STRING, \"huge\", \"sometimes\", 0) = -1 EINVAL",
            "new mount of tmpfs on \"/d\" with size=16m (fsconfig, fsmount, move_mount) = ok",
            "bind of \"/a\" on \"/missing\" (open_tree, move_mount) failed at move_mount(5, \"\", AT_FDCWD, \"/missing\", MOVE_MOUNT_F_EMPTY_PATH) = -1 ENOENT",
            "bind of \"/a\" on \"/b\" (move_mount) = ok",
        ])
        #expect(run.operations[1].start == 1_000_300_000) // the resumed part starts at the create
        #expect(run.operations[1].latency == 30_000)
        #expect(run.tracker.pendingOperations == 0)
    }

    @Test func failedFirstCallsAreOperationsOfOneCall() throws {
        let run = try Run().feed([
            .fsopenCall("tmpfsx", ret: -19),
            .openTreeCall(cwd, "/missing", flags: openTreeClone | openTreeCloexec, ret: -2),
            .fspickCall(cwd, "/not-a-mount", ret: -22),
        ])
        #expect(run.descriptions == [
            "new mount of tmpfsx (fsopen) failed at fsopen(\"tmpfsx\", FSOPEN_CLOEXEC) = -1 ENODEV",
            "bind of \"/missing\" (open_tree) failed at open_tree(AT_FDCWD, \"/missing\", OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC) = -1 ENOENT",
            "remount of \"/not-a-mount\" (fspick) failed at fspick(AT_FDCWD, \"/not-a-mount\", FSPICK_CLOEXEC) = -1 EINVAL",
        ])
        #expect(run.tracker.trackedProcesses == 0)
    }

    @Test func failedMoveMountEndsTheOperation() throws {
        let run = try Run().feed([
            .openTreeCall(cwd, "/a", flags: openTreeClone | openTreeCloexec, ret: 5),
            .moveMountCall(5, "", cwd, "/nonexistent", ret: -2),
        ])
        #expect(run.descriptions == [
            "bind of \"/a\" on \"/nonexistent\" (open_tree, move_mount) failed at move_mount(5, \"\", AT_FDCWD, \"/nonexistent\", MOVE_MOUNT_F_EMPTY_PATH) = -1 ENOENT",
        ])
    }

    @Test func bindAndRecursiveBindWithReadOnly() throws {
        let run = try Run().feed([
            .openTreeCall(cwd, "/a", flags: openTreeClone | openTreeCloexec, ret: 5),
            .moveMountCall(5, "", cwd, "/b"),
            .openTreeCall(cwd, "/a", flags: openTreeClone | openTreeCloexec | atRecursive, ret: 6),
            .mountSetattrCall(6, "", flags: atEmptyPath | atRecursive, set: attrRdonly),
            .moveMountCall(6, "", cwd, "/c"),
        ])
        #expect(run.descriptions == [
            "bind of \"/a\" on \"/b\" (open_tree, move_mount) = ok",
            "recursive bind of \"/a\" on \"/c\" with ro (open_tree, mount_setattr, move_mount) = ok",
        ])
        #expect(run.operations.map(\.action) == [.bind(recursive: false), .bind(recursive: true)])
        #expect(run.operations[1].attrSet == attrRdonly && run.operations[1].recursive)
    }

    @Test func moveByTreeAndByPath() throws {
        let run = try Run().feed([
            .openTreeCall(cwd, "/a", flags: openTreeCloexec, ret: 5),
            .moveMountCall(5, "", cwd, "/b"),
            .moveMountCall(5, "", cwd, "/e"), // the remembered fd: the mount now at /b
            .moveMountCall(5, "", cwd, "/f"), // and now at /e
            .moveMountCall(cwd, "/f", cwd, "/c", flags: 0),
        ])
        #expect(run.descriptions == [
            "move of \"/a\" to \"/b\" (open_tree, move_mount) = ok",
            "move of \"/b\" to \"/e\" (move_mount) = ok",
            "move of \"/e\" to \"/f\" (move_mount) = ok",
            "move of \"/f\" to \"/c\" (move_mount) = ok",
        ])
        #expect(run.operations.allSatisfy { $0.action == .move })
    }

    @Test func remountThroughFspick() throws {
        let run = try Run().feed([
            .fspickCall(cwd, "/d", ret: 3),
            .fsconfigCall(3, setFlag, "ro"),
            .fsconfigCall(3, setString, "size", "32m"),
            .fsconfigCall(3, cmdReconfigure),
        ])
        #expect(run.descriptions == ["remount of \"/d\" with ro,size=32m (fspick, fsconfig ×3) = ok"])
        #expect(run.operations[0].action == .remount)
    }

    /// mount -o remount,ro /d with util-linux 2.39: open_tree(/d), fspick on
    /// that tree, reconfigure, then the per-mount flag on the tree.
    @Test func remountAsUtilLinuxDoesIt() throws {
        let run = try Run().feed([
            .openTreeCall(cwd, "/d", flags: openTreeCloexec, ret: 3),
            .fspickCall(3, "", flags: 0x8 | 0x4 /* FSPICK_EMPTY_PATH|FSPICK_NO_AUTOMOUNT */, ret: 4),
            .fsconfigCall(4, setFlag, "ro"),
            .fsconfigCall(4, cmdReconfigure),
            .mountSetattrCall(3, "", flags: atEmptyPath, set: attrRdonly),
        ])
        #expect(run.descriptions == [
            "remount of \"/d\" with ro (open_tree, fspick, fsconfig ×2) = ok",
            "mount flags of \"/d\" set to ro (mount_setattr) = ok",
        ])
        #expect(run.operations.map(\.action) == [.remount, .mountFlags])
    }

    @Test func mountFlagsBeforeTheReconfigureJoinTheRemount() throws {
        let run = try Run().feed([
            .openTreeCall(cwd, "/d", flags: openTreeCloexec, ret: 3),
            .fspickCall(3, "", flags: 0x8, ret: 4),
            .mountSetattrCall(3, "", flags: atEmptyPath, set: attrNosuid, clear: attrRdonly),
            .fsconfigCall(4, setFlag, "rw"),
            .fsconfigCall(4, cmdReconfigure),
        ])
        #expect(run.descriptions == [
            "remount of \"/d\" with rw,nosuid,rw (open_tree, fspick, mount_setattr, fsconfig ×2) = ok",
        ])
    }

    @Test func mountFlagsAndPropagationOfAnAttachedMount() throws {
        let run = try Run().feed([
            .mountSetattrCall(cwd, "/d", flags: atRecursive, propagation: msPrivate),
            .mountSetattrCall(cwd, "/d", flags: 0, set: attrRdonly | attrNoatime, clear: 0x70 /* MOUNT_ATTR__ATIME */),
            .openTreeCall(cwd, "/e", flags: openTreeCloexec, ret: 3),
            .mountSetattrCall(3, "", flags: atEmptyPath, propagation: msShared),
            .mountSetattrCall(cwd, "/f", flags: 0, clear: attrRdonly | attrNosuid),
        ])
        #expect(run.descriptions == [
            "propagation of \"/d\" and below set to private (mount_setattr) = ok",
            "mount flags of \"/d\" set to noatime,ro (mount_setattr) = ok",
            "propagation of \"/e\" set to shared (open_tree, mount_setattr) = ok",
            "mount flags of \"/f\" set to rw,suid (mount_setattr) = ok",
        ])
        #expect(run.operations.map(\.action) == [.propagation, .mountFlags, .propagation, .mountFlags])
    }

    @Test func peerGroupCopiedWithMoveMountSetGroup() throws {
        let run = try Run().feed([.moveMountCall(cwd, "/a", cwd, "/b", flags: 0x100)])
        #expect(run.descriptions == ["propagation of \"/b\" joined to the peer group of \"/a\" (move_mount) = ok"])
    }

    @Test func detachedMountsNeverAttachedAreReportedWhenTracingStops() throws {
        let run = try Run().feed([
            .fsopenCall("tmpfs", ret: 3),
            .fsconfigCall(3, cmdCreate),
            .fsmountCall(3, ret: 4),
            .openTreeCall(cwd, "/a", flags: openTreeClone, ret: 5).by(tid: 4200, pid: 4200, comm: "runc"),
        ])
        #expect(run.operations.isEmpty)
        run.tracker.finish(at: 2_000_000_000)
        #expect(run.descriptions == [
            "new mount of tmpfs (fsopen, fsconfig, fsmount) incomplete: detached mount never attached (tracing stopped)",
            "bind of \"/a\" (open_tree) incomplete: detached mount never attached (tracing stopped)",
        ])
        #expect(run.operations.map(\.end) == [2_000_000_000, 2_000_000_000])
        #expect(run.operations[1].pid == 4200 && run.operations[1].comm == Array("runc".utf8))
        #expect(run.tracker.pendingOperations == 0 && run.tracker.trackedProcesses == 0)
    }

    @Test func processExitingMidOperation() throws {
        let run = try Run().feed([
            .fsopenCall("tmpfs", ret: 3),
            .fsconfigCall(3, setString, "size", "1m"),
            .fspickCall(cwd, "/d", ret: 4),
            .openTreeCall(cwd, "/e", flags: openTreeCloexec, ret: 5),
            .fsopenCall("ext4", ret: 3).by(tid: 5000, pid: 5000),
        ])
        #expect(run.tracker.processesWithPendingOperations == [4120, 5000])
        run.tracker.processExited(pid: 4120, at: 1_500_000_000)
        #expect(run.tracker.processesWithPendingOperations == [5000])
        #expect(run.descriptions == [
            "new mount of tmpfs with size=1m (fsopen, fsconfig) incomplete: filesystem never created (process exited)",
            "remount of \"/d\" (fspick) incomplete: never reconfigured (process exited)",
            "use of mount \"/e\" (open_tree) incomplete: mount opened, nothing changed (process exited)",
        ])
        #expect(json(run.operations[0]).contains(#""incomplete":{"stage":"not_created","reason":"process_exited","fd":null}}"#))
        // The other process is untouched.
        #expect(run.tracker.pendingOperations == 1 && run.tracker.trackedProcesses == 1)
        run.tracker.processExited(pid: 4121, at: 1_500_000_000) // a thread id, not a process: nothing
        #expect(run.operations.count == 3)
    }

    @Test func createdButNeverMounted() throws {
        let run = try Run().feed([.fsopenCall("tmpfs", ret: 3), .fsconfigCall(3, cmdCreate)])
        run.tracker.finish(at: 2_000_000_000)
        #expect(run.descriptions == ["new mount of tmpfs (fsopen, fsconfig) incomplete: filesystem created, never mounted (tracing stopped)"])
    }
}

@Suite struct DescriptorTests {
    @Test func twoThreadsInterleavedMakeTwoOperations() throws {
        let run = try Run().feed([
            .fsopenCall("tmpfs", ret: 3).by(tid: 4121),
            .openTreeCall(cwd, "/a", flags: openTreeClone, ret: 4).by(tid: 4122),
            .fsconfigCall(3, setString, "size", "1m").by(tid: 4121),
            .moveMountCall(4, "", cwd, "/b").by(tid: 4122),
            .fsconfigCall(3, cmdCreate).by(tid: 4121),
            .fsmountCall(3, ret: 5).by(tid: 4121),
            .moveMountCall(5, "", cwd, "/c").by(tid: 4121),
        ])
        #expect(run.descriptions == [
            "bind of \"/a\" on \"/b\" (open_tree, move_mount) = ok",
            "new mount of tmpfs on \"/c\" with size=1m (fsopen, fsconfig ×2, fsmount, move_mount) = ok",
        ])
        #expect(run.operations.map(\.tids) == [[4122], [4121]])
        #expect(run.operations.map(\.latency) == [20_000, 50_000])
    }

    @Test func oneOperationAcrossThreads() throws {
        let run = try Run().feed([
            .fsopenCall("tmpfs", ret: 3).by(tid: 4121),
            .fsconfigCall(3, cmdCreate).by(tid: 4122),
            .fsmountCall(3, ret: 4).by(tid: 4121),
            .moveMountCall(4, "", cwd, "/c").by(tid: 4123),
        ])
        #expect(run.operations.map(\.tids) == [[4121, 4122, 4123]])
        #expect(json(run.operations[0]).contains(#""tid":4121,"#))
        #expect(json(run.operations[0]).contains(#""tids":[4121,4122,4123]"#))
    }

    @Test func sameDescriptorNumbersInTwoProcessesAreApart() throws {
        let run = try Run().feed([
            .fsopenCall("tmpfs", ret: 3),
            .fsopenCall("ext4", ret: 3).by(tid: 5000, pid: 5000),
            .fsconfigCall(3, setString, "source", "/dev/vdb").by(tid: 5000, pid: 5000),
            .fsconfigCall(3, cmdCreate),
            .fsmountCall(3, ret: 4),
            .moveMountCall(4, "", cwd, "/t"),
        ])
        #expect(run.descriptions == ["new mount of tmpfs on \"/t\" (fsopen, fsconfig, fsmount, move_mount) = ok"])
        #expect(run.tracker.pendingOperations == 1)
    }

    @Test func aReusedNumberEndsTheOperationThatHeldIt() throws {
        let run = try Run().feed([
            .fsopenCall("tmpfs", ret: 3),
            .fsconfigCall(3, setString, "size", "1m"),
            .fsopenCall("ext4", ret: 3), // fd 3 was closed, unseen
            .fsconfigCall(3, setString, "source", "/dev/vdb"),
            .fsconfigCall(3, cmdCreate),
            .fsmountCall(3, ret: 4),
            .moveMountCall(4, "", cwd, "/mnt"),
        ])
        #expect(run.descriptions == [
            "new mount of tmpfs with size=1m (fsopen, fsconfig) incomplete: filesystem never created (fd 3 closed: its number was reused)",
            "new mount of ext4 \"/dev/vdb\" on \"/mnt\" (fsopen, fsconfig ×2, fsmount, move_mount) = ok",
        ])
        #expect(run.operations[0].end == 1_000_200_000) // when the reuse was seen
        #expect(json(run.operations[0]).contains(#""incomplete":{"stage":"not_created","reason":"fd_reused","fd":3}}"#))
    }

    @Test func closingTheContextAfterFsmountDoesNotEndTheMount() throws {
        // libmount keeps both; another program may close the fs fd once it has the mount fd.
        let run = try Run().feed([
            .fsopenCall("tmpfs", ret: 3),
            .fsconfigCall(3, cmdCreate),
            .fsmountCall(3, ret: 4),
            .openTreeCall(cwd, "/a", flags: openTreeClone, ret: 3), // fd 3 closed and reused
            .moveMountCall(4, "", cwd, "/t"),
            .moveMountCall(3, "", cwd, "/u"),
        ])
        #expect(run.descriptions == [
            "new mount of tmpfs on \"/t\" (fsopen, fsconfig, fsmount, move_mount) = ok",
            "bind of \"/a\" on \"/u\" (open_tree, move_mount) = ok",
        ])
    }

    @Test func aReusedNumberAfterCompletionRefersToTheNewMount() throws {
        let run = try Run().feed([
            .openTreeCall(cwd, "/a", flags: openTreeClone, ret: 3),
            .moveMountCall(3, "", cwd, "/b"),
            .openTreeCall(cwd, "/x", flags: openTreeCloexec, ret: 3),
            .mountSetattrCall(3, "", flags: atEmptyPath, set: attrRdonly),
            .mountSetattrCall(3, "sub", flags: 0, propagation: msShared),
        ])
        #expect(run.descriptions == [
            "bind of \"/a\" on \"/b\" (open_tree, move_mount) = ok",
            "mount flags of \"/x\" set to ro (open_tree, mount_setattr) = ok",
            "propagation of \"/x/sub\" set to shared (mount_setattr) = ok",
        ])
    }

    @Test func descriptorsOpenedBeforeTracing() throws {
        let run = try Run().feed([
            .fsconfigCall(7, setString, "size", "1m"),
            .mountSetattrCall(8, "", flags: atEmptyPath, set: attrRdonly),
            .mountSetattrCall(8, "sub", flags: 0, set: attrRdonly),
            .fsconfigCall(9, cmdCreate),
            .fsmountCall(9, ret: 10),
            .moveMountCall(10, "", cwd, "/t"),
        ])
        run.tracker.finish(at: 2_000_000_000)
        #expect(run.descriptions == [
            "mount flags of fd 8 set to ro (mount_setattr) = ok",
            "mount flags of \"sub\" under fd 8 set to ro (mount_setattr) = ok",
            "new mount on \"/t\" (fsconfig, fsmount, move_mount) = ok",
            "calls on fd 7 opened before tracing with size=1m (fsconfig) incomplete: filesystem never created (tracing stopped)",
        ])
        #expect(json(run.operations[1]).contains(#""target":"fd:8/sub""#))
    }

    @Test func copyRecordsAreIgnored() throws {
        var copy = RecordBuilder()
        copy.kind = SyscallKind.copyFileRange.rawValue
        copy.strings = ["a", "b"]
        let run = try Run().feed([copy])
        run.tracker.finish(at: 2_000_000_000)
        #expect(run.operations.isEmpty)
        #expect(run.tracker.counters == MountOperationCounters())
    }

    @Test func stringsAreCopiedOutOfTheRecord() throws {
        let run = Run()
        var bytes = RecordBuilder.fsopenCall("tmpfs", ret: 3).bytes
        try bytes.withRecord { run.tracker.track($0) }
        for index in 176..<bytes.count { bytes[index] = UInt8(ascii: "X") } // the ring slot is reused
        try run.feed([.fsconfigCall(3, cmdCreate), .fsmountCall(3, ret: 4), .moveMountCall(4, "", cwd, "/d")])
        #expect(run.operations.first?.fstype == Array("tmpfs".utf8))
    }
}

@Suite struct ClassicMountTests {
    static let cases: [(RecordBuilder, String)] = [
        (RecordBuilder.mountCall("/dev/vdb", "/mnt/x", "ext4", flags: 0x400, data: "errors=remount-ro,discard"),
         "new mount of ext4 \"/dev/vdb\" on \"/mnt/x\" with noatime,errors=remount-ro,discard (mount) = ok"),
        (RecordBuilder.mountCall("/dev/vdb", "/mnt/x", "ext4", flags: 0xC0ED_0000 | 0x1, data: ""),
         "new mount of ext4 \"/dev/vdb\" on \"/mnt/x\" with ro (mount) = ok"),
        (RecordBuilder.mountCall("/a", "/b", nil, flags: 0x1000), "bind of \"/a\" on \"/b\" (mount) = ok"),
        (RecordBuilder.mountCall("/a", "/b", "none", flags: 0x1000 | 0x4000), "recursive bind of \"/a\" on \"/b\" (mount) = ok"),
        (RecordBuilder.mountCall("none", "/d", nil, flags: 0x20 | 0x1, data: "size=1m"), "remount of \"/d\" with ro,size=1m (mount) = ok"),
        (RecordBuilder.mountCall("none", "/d", nil, flags: 0x20, data: nil), "remount of \"/d\" with rw (mount) = ok"),
        (RecordBuilder.mountCall("none", "/d", nil, flags: 0x20 | 0x1000 | 0x1 | 0x2), "mount flags of \"/d\" set to ro,nosuid (mount) = ok"),
        (RecordBuilder.mountCall("/a", "/b", nil, flags: 0x2000), "move of \"/a\" to \"/b\" (mount) = ok"),
        (RecordBuilder.mountCall("none", "/", nil, flags: 0x4000 | 0x100000), "propagation of \"/\" and below set to shared (mount) = ok"),
        (RecordBuilder.mountCall("none", "/d", nil, flags: 0x40000), "propagation of \"/d\" set to private (mount) = ok"),
        (RecordBuilder.mountCall("none", "/d", nil, flags: 0x80000), "propagation of \"/d\" set to slave (mount) = ok"),
        (RecordBuilder.mountCall("none", "/d", nil, flags: 0x20000), "propagation of \"/d\" set to unbindable (mount) = ok"),
        (RecordBuilder.mountCall("/dev/vdb", "/mnt/x", "ext4", flags: 0, data: "", ret: -16),
         "new mount of ext4 \"/dev/vdb\" on \"/mnt/x\" (mount) failed at mount(\"/dev/vdb\", \"/mnt/x\", \"ext4\", 0, \"\") = -1 EBUSY"),
        (RecordBuilder.umountCall("/d"), "unmount of \"/d\" (umount2) = ok"),
        (RecordBuilder.umountCall("/d", flags: 0x2), "lazy unmount of \"/d\" (umount2) = ok"),
        (RecordBuilder.umountCall("/d", flags: 0x1, ret: -16), "forced unmount of \"/d\" (umount2) failed at umount2(\"/d\", MNT_FORCE) = -1 EBUSY"),
        (RecordBuilder.umountCall("/d", flags: 0x4 | 0x8, ret: -11), "expiring unmount of \"/d\" with nofollow (umount2) failed at umount2(\"/d\", MNT_EXPIRE|UMOUNT_NOFOLLOW) = -1 EAGAIN"),
    ]

    @Test(arguments: cases)
    func describedInTheSameWords(call: RecordBuilder, description: String) throws {
        let run = try Run().feed([call])
        #expect(run.descriptions == [description])
        #expect(run.tracker.trackedProcesses == 0) // one call, no state kept
    }

    @Test func classicMountJSON() throws {
        let run = try Run().feed([.mountCall("/a", "/b", nil, flags: 0x1000 | 0x4000)])
        #expect(json(run.operations[0]) == """
            {"time":"2026-11-23T14:07:31.123456789Z","type":"mount_op","pid":4120,"tid":4121,"comm":"mount","mntns":4026531841,\
            "end_time":"2026-11-23T14:07:31.123466789Z","latency_ns":10000,"operation":"recursive_bind","result":"ok",\
            "fstype":null,"source":"/a","target":"/b","options":[],"options_dropped":0,\
            "mount_flags":["MS_BIND","MS_REC"],"umount_flags":[],"attr_set":[],"attr_clr":[],"propagation":[],"recursive":true,\
            "calls":[{"call":"mount","count":1}],"calls_not_listed":0,"tids":[4121],"errno":null,"failed_call":null,"incomplete":null}

            """)
    }
}

@Suite struct LimitTests {
    @Test func oneProcessHoldsAtMostItsLimitOfOperations() throws {
        let limit = MountOperationLimits.operationsPerProcess
        let run = try Run().feed((0...limit).map { .fsopenCall("tmpfs", ret: Int64(3 + $0)) })
        #expect(run.tracker.counters.operationsEvicted == 1)
        #expect(run.tracker.counters.overflows == 1)
        #expect(run.tracker.pendingOperations == limit)
        #expect(run.descriptions == ["new mount of tmpfs (fsopen) incomplete: filesystem never created (state limit reached)"])
        #expect(run.operations[0].start == 1_000_000_000) // the oldest went
    }

    @Test func allProcessesTogetherHoldAtMostTheTotal() throws {
        let perProcess = MountOperationLimits.operationsPerProcess
        let processes = MountOperationLimits.operations / perProcess + 1
        var calls: [RecordBuilder] = []
        for process in 0..<processes {
            for fd in 0..<perProcess {
                calls.append(RecordBuilder.fsopenCall("tmpfs", ret: Int64(3 + fd)).by(tid: UInt32(10_000 + process), pid: UInt32(10_000 + process)))
            }
        }
        let run = try Run().feed(calls)
        #expect(run.tracker.pendingOperations == MountOperationLimits.operations)
        #expect(run.tracker.counters.operationsEvicted == UInt64(perProcess))
        #expect(run.operations.count == perProcess)
        #expect(run.operations.allSatisfy { $0.pid == 10_000 && $0.outcome == .incomplete(.notCreated, .evicted) })
        #expect(run.tracker.trackedProcesses == processes - 1) // the emptied process is freed
    }

    @Test func theProcessTableIsBounded() throws {
        let limit = MountOperationLimits.processes
        let run = try Run().feed((0...limit).map {
            RecordBuilder.fsopenCall("tmpfs", ret: 3).by(tid: UInt32(20_000 + $0), pid: UInt32(20_000 + $0))
        })
        #expect(run.tracker.trackedProcesses == limit)
        #expect(run.tracker.counters.processesEvicted == 1)
        #expect(run.operations.map(\.pid) == [20_000])
        #expect(run.operations[0].outcome == .incomplete(.notCreated, .evicted))
    }

    @Test func optionsBeyondTheLimitAreCountedAndSaid() throws {
        let limit = MountOperationLimits.optionsPerOperation
        let run = try Run().feed([.fsopenCall("tmpfs", ret: 3)]
            + (0...limit).map { .fsconfigCall(3, setFlag, "o\($0)") }
            + [.fsconfigCall(3, cmdCreate), .fsmountCall(3, ret: 4), .moveMountCall(4, "", cwd, "/d")])
        let operation = try #require(run.operations.first)
        #expect(operation.options.count == limit && operation.optionsDropped == 1)
        #expect(run.tracker.counters.optionsDropped == 1)
        #expect(run.descriptions[0].contains(",o63,+1 not kept (fsopen, fsconfig ×66, fsmount, move_mount) = ok"))
        #expect(json(operation).contains(#""options_dropped":1,"#))
    }

    @Test func rememberedDescriptorsAreBounded() throws {
        let limit = MountOperationLimits.rememberedDescriptorsPerProcess
        var calls: [RecordBuilder] = []
        for index in 0...limit {
            let fd = Int32(3 + index)
            calls += [.openTreeCall(cwd, "/a", flags: openTreeClone, ret: Int64(fd)), .moveMountCall(fd, "", cwd, "/b\(index)")]
        }
        let run = try Run().feed(calls + [.mountSetattrCall(3, "", flags: atEmptyPath, set: attrRdonly)])
        #expect(run.tracker.counters.descriptorsForgotten == 1)
        #expect(run.descriptions.last == "mount flags of fd 3 set to ro (mount_setattr) = ok") // forgotten: fd 3 was /b0
    }
}
