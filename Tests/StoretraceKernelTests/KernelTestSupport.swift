import Foundation
import Glibc
import StoretraceDecode
import StoretraceKernel
import StoretraceRecords
import StoretraceRender
import Testing

/// Kernel tests need root (BPF, mounts). Without it they are skipped, except
/// where STORETRACE_REQUIRE_KERNEL_TESTS=1 (scripts/test sets it when
/// CI=true): there they run and fail, because a kernel test that cannot run
/// must not pass silently.
enum KernelGate {
    static let isRoot = geteuid() == 0
    static let required = ProcessInfo.processInfo.environment["STORETRACE_REQUIRE_KERNEL_TESTS"] == "1"
    static var enabled: Bool { isRoot || required }
}

/// Every test that touches the kernel, in one serialized tree: they share
/// tracepoints, tracefs and the list of loaded BPF programs.
@Suite(.serialized, .enabled(if: KernelGate.enabled, "needs root (set STORETRACE_REQUIRE_KERNEL_TESTS=1 to fail instead)"))
enum KernelTests {}

/// Runs a tracer restricted to this test process around `workload`, then
/// returns every event it delivered as a JSON object (the contract's view).
final class TraceCollector {
    private(set) var lines: [String] = []
    private(set) var malformed = 0
    private(set) var malformedErrors: [String] = []
    let renderer = JSONRenderer(clock: KernelClock.measureOffset())

    func handle(_ raw: RawRecord) {
        let bytes = raw.bytes
        #expect(raw.source == .syscall)
        #expect(raw.timestamp == SyscallRecord.timestamp(of: bytes), "the merge key is the entry stamp")
        let record: SyscallRecord
        do {
            record = try SyscallRecord(validating: bytes)
        } catch {
            malformed += 1
            malformedErrors.append("\(error) in \(Array(bytes.prefix(16)))")
            return
        }
        var out = OutputBuffer(capacity: 1024)
        renderer.render(record, into: &out)
        lines.append(String(decoding: out.bytes, as: UTF8.self))
    }

    var objects: [[String: Any]] {
        lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
}

func traceSelf(perfBuffer: Bool = false, legacyTaskState: Bool = false, helperFileReads: Bool = false,
               kinds: [SyscallKind] = SyscallKind.allCases,
               _ workload: () throws -> Void) throws -> (events: [[String: Any]], losses: LossCounters) {
    var options = TracerOptions()
    options.targetPID = UInt32(getpid())
    options.forcePerfBuffer = perfBuffer
    options.forceLegacyTaskState = legacyTaskState
    options.forceHelperFileReads = helperFileReads
    options.kinds = kinds
    let tracefs = try TracefsMount()
    defer { tracefs.release() }
    let collector = TraceCollector()
    let tracer = try SyscallTracer(options: options, tracefs: tracefs)
    defer { tracer.close() }
    #expect(tracer.usesPerfBuffer == perfBuffer)
    // This kernel (6.18) has task storage: the fast path must be the one used.
    #expect(tracer.usesTaskStorage == !legacyTaskState)
    // And bpf_rdonly_cast (6.2+): a copy call's files are read with plain
    // loads, unless forced not to; a refusal here is a bug, not a fallback.
    let readsFiles = kinds.contains(where: SyscallTracer.plainFileLoadKinds.contains)
    #expect(tracer.usesPlainFileLoads == (readsFiles && !helperFileReads), "\(tracer.plainFileLoadsRefusal ?? "not tried")")
    #expect(tracer.plainFileLoadsRefusal == nil)
    try workload()
    while tracer.poll(timeoutMilliseconds: 50, collector.handle) > 0 {}
    #expect(collector.malformed == 0, "\(collector.malformedErrors)")
    return (collector.objects, tracer.counters())
}

/// A scratch directory under /tmp, removed (and unmounted) at deinit.
final class Scratch {
    let path: String
    init() {
        var template = Array("/tmp/storetrace-test-XXXXXX".utf8CString)
        path = String(cString: mkdtemp(&template)!)
    }
    func dir(_ name: String) -> String {
        let full = path + "/" + name
        mkdir(full, 0o755)
        return full
    }
    deinit {
        // Undo any mount a failed test left behind, deepest first.
        if let mounts = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) {
            let targets = mounts.split(separator: "\n").compactMap { line -> String? in
                let fields = line.split(separator: " ")
                return fields.count > 4 && fields[4].hasPrefix(path) ? String(fields[4]) : nil
            }
            for target in targets.sorted(by: { $0.count > $1.count }) { umount2(target, Int32(MNT_DETACH)) }
        }
        try? FileManager.default.removeItem(atPath: path)
    }
}

struct SyscallFailed: Error, CustomStringConvertible {
    let description: String
}

@discardableResult
func check(_ result: Int32, _ what: String) throws -> Int32 {
    if result < 0 { throw SyscallFailed(description: "\(what): \(String(cString: strerror(errno)))") }
    return result
}

/// The inode number of this process's mount namespace (/proc/self/ns/mnt).
func selfMountNamespace() throws -> Int {
    let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt") // "mnt:[4026531841]"
    return Int(link.dropFirst(5).dropLast())!
}

extension Array where Element == [String: Any] {
    func of(type: String, where key: String, is value: String) -> [[String: Any]] {
        filter { $0["type"] as? String == type && $0[key] as? String == value }
    }
}
