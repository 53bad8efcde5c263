import CLibbpf
import CStoretraceABI
import Glibc
import StoretraceBPF
import StoretraceDecode
import StoretraceRecords
import SystemPackage

/// Why block-device claims cannot be traced here: one line, said once by
/// `live` and `record` and by `doctor`. The holder scan still runs; it only
/// cannot see an O_EXCL open (the kernel strips O_EXCL from f_flags).
public struct ClaimRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// The claim function of this kernel, or nil if none was found.
    public var function: String?
    /// How each way in failed: "fexit: EPERM", "kprobe: not in this kernel".
    public var reasons: [String]

    public var description: String {
        (function ?? "no claim function (bd_prepare_to_claim, bd_start_claiming) in BTF or kallsyms") + ": "
            + reasons.joined(separator: "; ")
    }

    /// The notice of `live` and `record`.
    public var notice: String {
        "not tracing block-device claims (\(description)); holders of a busy device come from the scan, which cannot see an O_EXCL open"
    }
}

/// Traces exclusive claims of block devices (`bpf/storetrace_claim.bpf.c`):
/// who claimed which device, and whether the kernel refused it. Its own BPF
/// object and ring buffer, loaded apart from the syscall tracer, so a kernel
/// that refuses fexit and kprobes costs a notice and nothing else.
public final class ClaimTracer: RecordSource {
    public let kind = SourceKind.claim

    /// How the program is attached.
    public enum Attachment: String, Sendable {
        case fexit
        case kprobe = "kprobe+kretprobe"
    }

    /// The kernel's claim functions, newest first: bd_prepare_to_claim
    /// (Linux 5.10+, returns int) and bd_start_claiming (before, returns the
    /// whole disk or an ERR_PTR). Both take (bdev, holder, ...).
    public static let candidates: [(name: String, returnsPointer: Bool)] = [
        ("bd_prepare_to_claim", false), ("bd_start_claiming", true),
    ]

    public let function: String
    public let attachment: Attachment

    private var object: OpaquePointer?
    private var links: [OpaquePointer] = []
    private var ringBuffer: OpaquePointer?
    private let box = Box()
    private let countersFD: Int32
    private let possibleCPUs = Int(max(libbpf_num_possible_cpus(), 1))

    final class Box {
        var emit: (RawRecord) -> Void = { _ in }
    }

    public var pollFDs: [Int32] { ringBuffer.map { [ring_buffer__epoll_fd($0)] } ?? [] }

    /// Tries fexit, then kprobe + kretprobe, on the first claim function
    /// this kernel has; throws why neither could be used.
    public init() throws(ClaimRefusal) {
        LibbpfLog.install()
        _ = LibbpfLog.drain()
        let inBTF = Self.candidates.first { Self.btfHasFunction($0.name) }
        var reasons: [String] = []
        var loaded: Loaded?
        if let target = inBTF {
            do { loaded = try Self.load(.fexit, target, box: box) } catch { reasons.append("fexit " + Self.reason(error)) }
        } else {
            reasons.append("fexit: no claim function in BTF")
        }
        let target = inBTF ?? Self.candidates.first { Self.kallsymsHasFunction($0.name) }
        if loaded == nil, let target {
            // Asked before loading: a kernel without kprobes would refuse the
            // attach only after the load (a parse of vmlinux BTF and the
            // verifier, tens of milliseconds before the first event is shown).
            if !Self.kernelHasKprobes {
                reasons.append("kprobe " + Self.reason(.missingFeature(Self.noKprobes)))
            } else {
                do { loaded = try Self.load(.kprobe, target, box: box) } catch { reasons.append("kprobe " + Self.reason(error)) }
            }
        }
        guard let loaded, let target else { throw ClaimRefusal(function: target?.name, reasons: reasons) }
        object = loaded.object
        links = loaded.links
        ringBuffer = loaded.ring
        countersFD = loaded.counters
        function = target.name
        attachment = loaded.way
    }

    private struct Loaded {
        var way: Attachment
        var object: OpaquePointer
        var links: [OpaquePointer]
        var ring: OpaquePointer
        var counters: Int32
    }

    /// A refusal in a few words: "refused (EPERM)", "not in this kernel".
    static func reason(_ error: KernelError) -> String {
        func name(_ errno: Errno) -> String { ErrnoNames.name(errno.rawValue).map { "\($0)" } ?? "errno \(errno.rawValue)" }
        switch error {
        case .load(_, let errno, _): return "load refused (\(name(errno)))"
        case .attach(_, let errno): return "attach refused (\(name(errno)))"
        case .system(let call, let errno): return "\(call): \(name(errno))"
        case .missingFeature(let what): return "unavailable: this kernel lacks \(what)"
        default: return error.description
        }
    }

    /// One way in, loaded and attached; the object is closed again if any step fails.
    private static func load(_ way: Attachment, _ target: (name: String, returnsPointer: Bool), box: Box)
        throws(KernelError) -> Loaded {
        guard let bytes = EmbeddedBPF.object(named: "storetrace_claim.bpf.o") else {
            throw .missingFeature("an embedded claim BPF object (storetrace was built without it)")
        }
        var openOptions = bpf_object_open_opts()
        openOptions.sz = MemoryLayout<bpf_object_open_opts>.size
        let opened: OpaquePointer? = "st_claim".withCString { name in
            openOptions.object_name = name
            return bytes.withUnsafeBytes { bpf_object__open_mem($0.baseAddress, $0.count, &openOptions) }
        }
        guard let object = opened else { throw .system("bpf_object__open_mem") }
        var links: [OpaquePointer] = []
        func fail(_ error: KernelError) -> KernelError {
            for link in links { bpf_link__destroy(link) }
            bpf_object__close(object)
            return error
        }
        var settings = st_claim_settings()
        settings.ret_is_pointer = target.returnsPointer ? 1 : 0
        do { try SyscallTracer.writeReadOnly(settings, named: "st_claim_settings", into: object) } catch { throw fail(error) }

        let programs = way == .fexit ? ["st_claim_fexit"] : ["st_claim_kprobe", "st_claim_kretprobe"]
        for name in ["st_claim_fexit", "st_claim_kprobe", "st_claim_kretprobe"] {
            bpf_program__set_autoload(bpf_object__find_program_by_name(object, name), programs.contains(name))
        }
        if way == .fexit {
            bpf_map__set_autocreate(bpf_object__find_map_by_name(object, "st_claim_pending"), false)
            let set = bpf_program__set_attach_target(bpf_object__find_program_by_name(object, "st_claim_fexit"), 0, target.name)
            if set != 0 { throw fail(.system(call: "set attach target \(target.name)", errno: Errno(rawValue: -set))) }
        }
        let loaded = ObjectLoad.load(object)
        if loaded != 0 {
            let failure = LibbpfLog.verifierFailure(in: LibbpfLog.drain(), keep: 2)
            throw fail(.load(program: failure.program, errno: Errno(rawValue: -loaded), log: failure.log))
        }
        for name in programs {
            let program = bpf_object__find_program_by_name(object, name)
            let link = way == .fexit
                ? bpf_program__attach(program)
                : bpf_program__attach_kprobe(program, name == "st_claim_kretprobe", target.name)
            guard let link else {
                let failure = Errno(rawValue: errno)
                _ = LibbpfLog.drain()
                if way == .kprobe && !Self.kernelHasKprobes {
                    throw fail(.missingFeature(Self.noKprobes))
                }
                throw fail(.attach(program: name, errno: failure))
            }
            links.append(link)
        }
        _ = LibbpfLog.drain()
        let events = bpf_object__find_map_by_name(object, "st_claim_events")
        guard let ring = ring_buffer__new(bpf_map__fd(events), claimSample, Unmanaged.passUnretained(box).toOpaque(), nil) else {
            throw fail(.system("ring_buffer__new"))
        }
        return Loaded(way: way, object: object, links: links, ring: ring,
                      counters: bpf_map__fd(bpf_object__find_map_by_name(object, "st_claim_counters")))
    }

    /// Whether vmlinux BTF has a function of this name (fexit needs it).
    static func btfHasFunction(_ name: String) -> Bool {
        guard let btf = btf__load_vmlinux_btf() else { return false }
        defer { btf__free(btf) }
        return btf__find_by_name_kind(btf, name, 12 /* BTF_KIND_FUNC */) > 0
    }

    /// Whether /proc/kallsyms lists a text symbol of this name (kprobes need it).
    static func kallsymsHasFunction(_ name: String) -> Bool {
        guard let text = try? readFile("/proc/kallsyms") else { return false }
        return text.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count >= 3 && fields[2] == name && (fields[1] == "T" || fields[1] == "t")
        }
    }

    static let noKprobes = "kprobes (no kprobe PMU, no kprobe_events)"

    /// The kprobe PMU (perf_event_open) or the legacy kprobe_events file.
    static var kernelHasKprobes: Bool {
        access("/sys/bus/event_source/devices/kprobe/type", F_OK) == 0
            || access("/sys/kernel/tracing/kprobe_events", F_OK) == 0
            || access("/sys/kernel/debug/tracing/kprobe_events", F_OK) == 0
    }

    /// `storetrace doctor`'s line: loads and detaches the tracer to see.
    public static func probe() -> ProbeResult {
        let name = "block-device claims"
        do {
            let tracer = try ClaimTracer()
            defer { tracer.close() }
            return .init(name: name, state: .ok, detail: "\(tracer.attachment.rawValue) on \(tracer.function): O_EXCL opens and mounts are named")
        } catch {
            return .init(name: name, state: error.function == nil ? .missing : .refused,
                         detail: "\(error); holders of a busy device come from the scan only (an O_EXCL open is not visible)")
        }
    }

    @discardableResult
    public func drain(_ emit: @escaping (RawRecord) -> Void) -> Int {
        box.emit = emit
        defer { box.emit = { _ in } }
        guard let ringBuffer else { return 0 }
        return Int(max(ring_buffer__consume(ringBuffer), 0))
    }

    public var losses: [LossCount] {
        var sums = [UInt64](repeating: 0, count: Int(ST_CLAIM_COUNTER_MAX.rawValue))
        var values = [UInt64](repeating: 0, count: possibleCPUs)
        for counter in sums.indices {
            var key = UInt32(counter)
            if object != nil, bpf_map_lookup_elem(countersFD, &key, &values) == 0 { sums[counter] = values.reduce(0, &+) }
        }
        return [LossCount(name: "claim ring buffer full", count: sums[Int(ST_CLAIM_COUNTER_RINGBUF_FULL.rawValue)], kind: .events),
                LossCount(name: "claim entry table full", count: sums[Int(ST_CLAIM_COUNTER_PENDING_FULL.rawValue)], kind: .events)]
    }

    public func close() {
        SyscallTracer.destroyConcurrently(links)
        links.removeAll()
        if let ringBuffer { ring_buffer__free(ringBuffer) }
        ringBuffer = nil
        if let object { bpf_object__close(object) }
        object = nil
    }

    deinit { close() }
}

private func claimSample(_ context: UnsafeMutableRawPointer?, _ data: UnsafeMutableRawPointer?, _ size: Int) -> Int32 {
    guard let context, let data else { return 0 }
    let box = Unmanaged<ClaimTracer.Box>.fromOpaque(context).takeUnretainedValue()
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    box.emit(RawRecord(source: .claim, timestamp: ClaimRecord.timestamp(of: bytes) ?? 0, bytes: bytes))
    return 0
}
