import Foundation
import StoretraceAnalyze
import StoretraceFixtures
import Testing
@testable import StoretraceDecode
@testable import StoretraceRender

/// mount_op lines built from MountOperation values directly: escaping,
/// colors and the rarer fields. (What the tracker puts in them is tested in
/// StoretraceAnalyzeTests.)
@Suite struct MountOperationRenderTests {
    func operation(_ action: MountOperation.Action, outcome: MountOperation.Outcome = .succeeded) -> MountOperation {
        MountOperation(pid: 4120, tids: [4121], comm: Array("mount".utf8), mountNamespace: 4026531841,
                       start: 1_000_000_000, end: 1_000_050_000, latency: 2_500_000,
                       calls: [.init(kind: .fsopen, count: 1), .init(kind: .fsconfig, count: 2)], action: action,
                       outcome: outcome)
    }

    func text(_ operation: MountOperation, color: Bool = false) -> String {
        var out = OutputBuffer()
        TextRenderer(color: color, utcOffsetSeconds: 0, clock: clock).renderMountOperation(operation, into: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    func json(_ operation: MountOperation) -> String {
        var out = OutputBuffer()
        JSONRenderer(clock: clock).renderMountOperation(operation, into: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func hostileStringsAreEscaped() throws {
        var hostile = operation(.newMount)
        hostile.comm = Array("evil\u{1B}[2J".utf8)
        hostile.fstype = Array("tmp fs".utf8)
        hostile.source = .init(path: Array("no\"ne".utf8))
        hostile.target = .init(path: Array("/d\n\u{1B}[31m".utf8) + [0xff])
        hostile.options = [.init(key: Array("size".utf8), value: .string(Array("1m,uid=0".utf8))),
                           .init(key: Array("ke y".utf8), value: .flag)]
        #expect(text(hostile) == "14:07:31.123456  evil\\x1b[2J[4120]      mnt:4026531841     2.50ms  mount_op: new mount of \"tmp fs\" \"no\\\"ne\" on \"/d\\n\\x1b[31m\\xff\" with size=\"1m,uid=0\",\"ke y\" (fsopen, fsconfig ×2) = ok\n")
        let line = json(hostile)
        #expect(line.contains(#""comm":"evil\u001b[2J""#))
        #expect(line.contains(#""fstype":"tmp fs","source":"no\"ne","target":"/d\n\u001b[31m\#u{FFFD}""#))
        #expect(line.contains(#""options":["size=1m,uid=0","ke y"]"#))
        #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil)
    }

    @Test func colorsOnlyWhenAsked() throws {
        let ok = operation(.remount)
        let failure = MountOperation.FailedCall(kind: .fsconfig, errno: 22, record: {
            var builder = RecordBuilder.fsconfigCall(3, 6, ret: -22)
            builder.latency = 1000
            return builder.bytes
        }())
        let failed = operation(.newMount, outcome: .failed(failure))
        let incomplete = operation(.newMount, outcome: .incomplete(.notCreated, .processExited))
        #expect(text(ok, color: true).hasSuffix("(fsopen, fsconfig ×2) = \u{1B}[32mok\u{1B}[0m\n"))
        #expect(text(failed, color: true).hasSuffix("failed at \u{1B}[1mfsconfig\u{1B}[0m(3, FSCONFIG_CMD_CREATE, NULL, NULL, 0) = \u{1B}[31m-1 EINVAL\u{1B}[0m\n"))
        #expect(text(incomplete, color: true).hasSuffix("\u{1B}[33m incomplete: filesystem never created\u{1B}[0m (process exited)\n"))
        for operation in [ok, failed, incomplete] {
            let stripped = text(operation, color: true)
                .replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
            #expect(stripped == text(operation))
        }
    }

    @Test func unnamedErrnoAndUnlistedCalls() throws {
        var builder = RecordBuilder.umountCall("/d", ret: -600)
        builder.kind = SyscallKind.umount.rawValue
        var failed = operation(.unmount, outcome: .failed(.init(kind: .umount, errno: 600, record: builder.bytes)))
        failed.target = .init(path: Array("/d".utf8))
        failed.calls = [.init(kind: .umount, count: 1)]
        failed.callsNotListed = 3
        #expect(mountOperationDescription(failed) == "unmount of \"/d\" (umount2, +3 more) failed at umount2(\"/d\", 0) = -1 E?600")
        #expect(json(failed).contains(#""calls_not_listed":3,"tids":[4121],"errno":"E600","failed_call":{"type":"umount","#))
    }

    @Test func binaryAndDescriptorParameters() throws {
        var withBlobs = operation(.newMount)
        withBlobs.fstype = Array("overlay".utf8)
        withBlobs.options = [.init(key: Array("key".utf8), value: .binary(size: 12)),
                             .init(key: Array("lowerdir+".utf8), value: .descriptor(5)),
                             .init(key: Array("upperdir".utf8), value: .string(Array("/u".utf8)))]
        #expect(mountOperationDescription(withBlobs) == "new mount of overlay with key=<binary 12 bytes>,lowerdir+=<fd 5>,upperdir=/u (fsopen, fsconfig ×2) = ok")
        #expect(json(withBlobs).contains(#""options":["key=<binary 12 bytes>","lowerdir+=<fd 5>","upperdir=/u"]"#))
    }

    @Test func incompleteReasonsInJSON() throws {
        let reasons: [(MountOperation.Outcome, String, String)] = [
            (.incomplete(.notAttached, .tracingStopped), "detached mount never attached (tracing stopped)",
             #""incomplete":{"stage":"not_attached","reason":"tracing_stopped","fd":null}}"#),
            (.incomplete(.notMounted, .descriptorReused(4)), "filesystem created, never mounted (fd 4 closed: its number was reused)",
             #""incomplete":{"stage":"not_mounted","reason":"fd_reused","fd":4}}"#),
            (.incomplete(.notReconfigured, .evicted), "never reconfigured (state limit reached)",
             #""incomplete":{"stage":"not_reconfigured","reason":"evicted","fd":null}}"#),
            (.incomplete(.nothingDone, .processExited), "mount opened, nothing changed (process exited)",
             #""incomplete":{"stage":"nothing_done","reason":"process_exited","fd":null}}"#),
        ]
        for (outcome, words, object) in reasons {
            let incomplete = operation(.unknown, outcome: outcome)
            #expect(mountOperationDescription(incomplete).hasSuffix(" incomplete: " + words))
            #expect(json(incomplete).hasSuffix(#""result":"incomplete","fstype":null,"source":null,"target":null,"options":[],"options_dropped":0,"mount_flags":[],"umount_flags":[],"attr_set":[],"attr_clr":[],"propagation":[],"recursive":false,"calls":[{"call":"fsopen","count":1},{"call":"fsconfig","count":2}],"calls_not_listed":0,"tids":[4121],"errno":null,"failed_call":null,"# + object + "\n"))
        }
    }

    @Test func mountAttributesAndPropagationAsOptions() throws {
        var bind = operation(.bind(recursive: true))
        bind.source = .init(path: Array("/a".utf8))
        bind.target = .init(path: Array("/b".utf8))
        bind.attrSet = 0x1 | 0x8 | 0x20 | 0x400000 // ro, noexec, strictatime, an unknown bit
        bind.attrClear = 0x70 | 0x2 // the atime field, nosuid
        bind.propagation = 0x80000
        bind.recursive = true
        #expect(mountOperationDescription(bind) == "recursive bind of \"/a\" on \"/b\" with strictatime,ro,noexec,suid,0x400000,rslave (fsopen, fsconfig ×2) = ok")
        #expect(json(bind).contains(#""attr_set":["MOUNT_ATTR_RDONLY","MOUNT_ATTR_NOEXEC","MOUNT_ATTR_STRICTATIME","0x400000"],"attr_clr":["MOUNT_ATTR_NOSUID","MOUNT_ATTR__ATIME"],"propagation":["MS_SLAVE"],"recursive":true"#))
    }
}
