import StoretraceDecode

/// JSON lines, the contract of docs/events.md: one object per event with
/// `time`, `type`, `pid`, `tid`, `comm`, then for syscalls `mntns`, `ret`,
/// `errno`, `latency_ns` and the call's own fields. Keys come in a fixed
/// order so that output is byte-for-byte reproducible.
/// A class for the reason TextRenderer is one: no per-event copy of the
/// enrichment tables it holds.
public final class JSONRenderer {
    public var clock: ClockOffset
    /// From the capture's node snapshot (record, replay): adds `mntns_owner`
    /// and, in file objects, `block_device` and `read_ahead_kb`.
    public var enrichment: SnapshotEnrichment? {
        // The old table's count is folded in, so that the sum in
        // `memoGeneration` only grows, whatever the new table's count is.
        didSet { generation &+= 1 &+ (oldValue?.generation ?? 0) }
    }
    /// Names and mounts of the block devices events name (kmsg lines, dev_t fields).
    public var devices = DeviceAnnotations.empty
    /// `--kubelet-root` (`TextRenderer.kubeletRoot`).
    public var kubeletRoot: [UInt8]? {
        didSet { generation &+= 1 }
    }

    /// Pieces of the last events' text, reused while their inputs repeat
    /// (`RenderMemo`): the minute of the time stamp, the task's fields, a
    /// call's own fields, and a copy's two file objects (for calls whose
    /// other arguments change: offsets, lengths).
    private var timeStamps = TimeStampMemo()
    private var taskFields = RenderMemo()
    private var inputFile = RenderMemo()
    private var outputFile = RenderMemo()
    /// A call's own fields and kubelet context, rendered from its arguments
    /// (`SyscallRecord.argumentBytes`).
    private var callFields = RenderMemo.forCalls()
    /// Changes with `enrichment` (the table, or what it holds): the task
    /// fields and file objects include what it adds.
    private var generation: UInt64 = 0
    private var memoGeneration: UInt64 { generation &+ (enrichment?.generation ?? 0) }

    public init(clock: ClockOffset, enrichment: SnapshotEnrichment? = nil) {
        self.clock = clock
        self.enrichment = enrichment
    }

    /// `pod`: the pod of the call's process (`PodTable`), nil for a host process.
    public func render(_ record: SyscallRecord, pod: PodCgroup? = nil, into out: inout OutputBuffer) {
        out.append("{\"time\":")
        appendTime(monotonic: record.timestamp, into: &out)
        let comm = record.comm
        let key = MemoKey(a: UInt64(record.pid) << 32 | UInt64(record.tid),
                          b: UInt64(record.uid) << 32 | UInt64(record.mountNamespace),
                          c: record.cgroupID, d: UInt64(record.kind.rawValue), generation: memoGeneration)
        if !taskFields.append(key, comm, into: &out) {
            let start = out.count
            appendTaskFields(type: record.kind.name, pid: record.pid, tid: record.tid, comm: comm, uid: record.uid,
                             mountNamespace: record.mountNamespace, into: &out)
            out.append(",\"cgroup_id\":")
            out.appendDecimal(record.cgroupID)
            taskFields.remember(key, comm, rendered: out, since: start)
        }
        appendResult(record, into: &out)
        let call = MemoKey(a: UInt64(record.kind.rawValue), b: UInt64(record.stringFlags), c: 0, d: 0,
                           generation: memoGeneration)
        if !callFields.append(call, record.argumentBytes, into: &out) {
            let start = out.count
            appendCallFields(record, into: &out)
            if let kubelet = record.kubeletPath(under: kubeletRoot) { appendKubelet(kubelet, into: &out) }
            callFields.remember(call, record.argumentBytes, rendered: out, since: start)
        }
        if let pod { appendPod(pod, into: &out) }
        if record.anyTruncated { out.append(",\"truncated\":true") }
        out.append("}\n")
    }

    /// `"ret"`, `"errno"` and `"latency_ns"` of a call.
    func appendResult(_ record: SyscallRecord, into out: inout OutputBuffer) {
        out.append(",\"ret\":")
        out.appendDecimal(record.returnValue)
        if let errno = record.errno {
            out.append(",\"errno\":")
            appendErrno(errno, into: &out)
            out.append(",\"latency_ns\":")
        } else {
            out.append(",\"errno\":null,\"latency_ns\":") // most calls: one copy
        }
        out.appendDecimal(record.latency)
    }

    /// `{"time":...,"type":"TYPE","pid":...,"tid":...,"comm":...,"uid":...,"mntns":...`
    /// and, from a capture, `mntns_owner`: how every event a task made begins.
    func appendTaskHead(type: StaticString, timestamp: UInt64, pid: UInt32, tid: UInt32, comm: UnsafeRawBufferPointer,
                        uid: UInt32, mountNamespace: UInt32, into out: inout OutputBuffer) {
        out.append("{\"time\":")
        appendTime(monotonic: timestamp, into: &out)
        appendTaskFields(type: type, pid: pid, tid: tid, comm: comm, uid: uid, mountNamespace: mountNamespace, into: &out)
    }

    /// `,"type":"TYPE","pid":...,"tid":...,"comm":...,"uid":...,"mntns":...` and `mntns_owner`.
    private func appendTaskFields(type: StaticString, pid: UInt32, tid: UInt32, comm: UnsafeRawBufferPointer,
                                  uid: UInt32, mountNamespace: UInt32, into out: inout OutputBuffer) {
        out.append(",\"type\":\"")
        out.append(type)
        out.append("\",\"pid\":")
        out.appendDecimal(pid)
        out.append(",\"tid\":")
        out.appendDecimal(tid)
        out.append(",\"comm\":")
        out.appendJSONString(comm)
        out.append(",\"uid\":")
        out.appendDecimal(uid)
        out.append(",\"mntns\":")
        out.appendDecimal(mountNamespace)
        enrichment?.appendNamespaceOwner(mountNamespace, into: &out)
    }

    /// `,"k8s":{"role":"pod-publish","pod_uid":...,"volume":...,"csi_driver":...,"plugin":...}`
    /// for a path in kubelet's volume layout (`KubeletPath`), completed from
    /// the volume's vol_data.json in the snapshot (then with `volume_handle`);
    /// nulls for what neither says.
    func appendKubelet(_ path: KubeletPath, into out: inout OutputBuffer) {
        out.append(",\"k8s\":{\"role\":\"")
        out.append(path.role.name)
        out.append("\",\"pod_uid\":")
        if let pod = path.podUID { out.appendJSONString(pod) } else { out.append("null") }
        let recorded = enrichment?.kubeletVolume(path)
        out.append(",\"volume\":")
        if let volume = path.volume {
            out.appendJSONString(volume)
        } else if let name = recorded?.specName {
            out.appendJSONString(string: name)
        } else {
            out.append("null")
        }
        out.append(",\"csi_driver\":")
        if let driver = path.csiDriver {
            out.appendJSONString(driver)
        } else if let driver = recorded?.driver {
            out.appendJSONString(string: driver)
        } else {
            out.append("null")
        }
        out.append(",\"plugin\":")
        if let plugin = path.plugin { out.appendJSONString(plugin) } else { out.append("null") }
        if let handle = recorded?.volumeHandle {
            out.append(",\"volume_handle\":")
            out.appendJSONString(string: handle)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The symbolic name as a JSON string (`"E<number>"` if it has none), or null.
    func appendErrno(_ errno: Int32?, into out: inout OutputBuffer) {
        if let errno {
            if let name = ErrnoNames.name(errno) {
                out.appendJSONString(name)
            } else {
                out.append("\"E")
                out.appendDecimal(errno)
                out.append("\"")
            }
        } else {
            out.append("null")
        }
    }

    /// The call's own fields, as SyscallDescription names them.
    func appendCallFields(_ record: SyscallRecord, into out: inout OutputBuffer) {
        for argument in SyscallDescription.of(record.kind).arguments where argument.inJSON {
            field(argument, record, &out)
        }
    }

    /// RFC 3339, UTC, nanoseconds: "2026-11-23T14:07:31.123456789Z".
    public func appendTime(monotonic: UInt64, into out: inout OutputBuffer) {
        out.append(UInt8(ascii: "\""))
        timeStamps.appendRFC3339(epochNanoseconds: clock.wallNanoseconds(monotonic: monotonic), into: &out)
        out.append(UInt8(ascii: "\""))
    }

    private func field(_ argument: SyscallDescription.Argument, _ r: SyscallRecord, _ out: inout OutputBuffer) {
        let register = argument.register
        switch argument.role {
        case .string(let slot):
            string(argument.name, r, slot, &out)
        case .flags(let table):
            flags(argument.name, r.arg(register), table, &out)
        case .fsconfigCommand:
            key(argument.name, &out)
            if let name = FlagTables.fsconfigCommand(r.arg(register)) { out.appendJSONString(name) } else { out.appendDecimal(r.arg(register)) }
        case .int, .dirfd, .fd:
            int(argument.name, Int64(r.intArg(register)), &out)
        case .offset(let which):
            offset(argument.name, r, pointer: register, value: r.offsetAtEntry(which), &out)
        case .length:
            int(argument.name, Int64(bitPattern: r.arg(register)), &out)
        case .unsigned:
            key(argument.name, &out)
            out.appendDecimal(r.arg(register))
        case .mountAttr:
            flags("attr_set", r.attrSet, FlagTables.mountAttr, &out)
            flags("attr_clr", r.attrClear, FlagTables.mountAttrClear, &out)
            flags("propagation", r.attrPropagation, FlagTables.propagation, &out)
        case .file(let which, let slot):
            file(argument.name, which, r, slot, &out)
        }
    }

    func key(_ name: StaticString, _ out: inout OutputBuffer) {
        out.appendJSONKey(name)
    }

    private func int(_ name: StaticString, _ value: Int64, _ out: inout OutputBuffer) {
        key(name, &out)
        out.appendDecimal(value)
    }

    private func string(_ name: StaticString, _ record: SyscallRecord, _ index: Int, _ out: inout OutputBuffer) {
        key(name, &out)
        if let text = record.string(index) {
            out.appendJSONString(text)
        } else {
            out.append("null") // NULL pointer, or memory that could not be read
        }
    }

    func flags(_ name: StaticString, _ value: UInt64, _ table: FlagTable, _ out: inout OutputBuffer) {
        key(name, &out)
        out.append(UInt8(ascii: "["))
        var first = true
        table.forEach(value) { flag in
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            switch flag {
            case .known(let text): out.appendJSONString(text)
            case .unknown(let bits):
                out.append(UInt8(ascii: "\""))
                out.appendHex(bits)
                out.append(UInt8(ascii: "\""))
            }
        }
        out.append(UInt8(ascii: "]"))
    }

    private func offset(_ name: StaticString, _ record: SyscallRecord, pointer arg: Int, value: Int64,
                        _ out: inout OutputBuffer) {
        key(name, &out)
        if record.arg(arg) == 0 { out.append("null") } else { out.appendDecimal(value) }
    }

    /// `{"dev":"8:1","ino":...,"name":...,"block_device":...,"read_ahead_kb":...}`:
    /// one of a copy's files, remembered per side (a storm copies between
    /// the same two files).
    private func file(_ name: StaticString, _ which: SyscallDescription.CopyFile, _ record: SyscallRecord,
                      _ index: Int, _ out: inout OutputBuffer) {
        key(name, &out)
        let ref = record.file(which)
        let text = record.string(index)
        let key = MemoKey(a: UInt64(ref.device), b: ref.inode, c: text == nil ? 1 : 0, d: 0, generation: memoGeneration)
        let bytes = text ?? UnsafeRawBufferPointer(start: nil, count: 0)
        switch which {
        case .input: if inputFile.append(key, bytes, into: &out) { return }
        case .output: if outputFile.append(key, bytes, into: &out) { return }
        }
        let start = out.count
        out.append("{\"dev\":\"")
        out.appendDecimal(ref.major)
        out.append(UInt8(ascii: ":"))
        out.appendDecimal(ref.minor)
        out.append("\",\"ino\":")
        out.appendDecimal(ref.inode)
        out.append(",\"name\":")
        if let text { out.appendJSONString(text) } else { out.append("null") }
        enrichment?.appendBlockDevice(major: ref.major, minor: ref.minor, into: &out)
        out.append(UInt8(ascii: "}"))
        switch which {
        case .input: inputFile.remember(key, bytes, rendered: out, since: start)
        case .output: outputFile.remember(key, bytes, rendered: out, since: start)
        }
    }
}
