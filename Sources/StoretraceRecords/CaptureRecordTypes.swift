import CStoretraceABI
import StoretraceBytes
import StoretraceCapture
import StoretraceDecode

/// One record type storetrace writes into captures: what a reader matches
/// on (name and version; ids are per file) and the field text stored with
/// it. docs/capture-format.md describes each payload; the encoder and
/// decoder of every payload are below, side by side.
public struct CaptureRecordType: Sendable, Equatable {
    public var id: UInt16
    public var name: String
    public var version: UInt16
    public var fields: String

    func matches(_ schema: CaptureSchema) -> Bool { schema.name == name && schema.version == version }
}

public enum CaptureRecordTypes {
    /// struct st_syscall_event as BPF wrote it, strings after the header.
    public static let syscall = CaptureRecordType(
        id: SourceKind.syscall.rawValue, name: "storetrace.syscall", version: 1, fields: SyscallSchema.fieldText)
    /// Version 1: the event payload, the CPU in the record flags.
    public static let ftraceV1 = CaptureRecordType(
        id: SourceKind.ftrace.rawValue, name: "storetrace.ftrace", version: 1, fields: "payload 0 * bytes")
    /// Version 2 (written since format 1.0 captures of 2026-12): u32 CPU,
    /// u32 zero, then the event payload (common fields first), so that the
    /// record flags stay the container's.
    public static let ftrace = CaptureRecordType(
        id: SourceKind.ftrace.rawValue, name: "storetrace.ftrace", version: 2,
        fields: "cpu 0 4 u32\nreserved 4 4 u32\npayload 8 * bytes")
    public static let uevent = CaptureRecordType(
        id: SourceKind.uevent.rawValue, name: "storetrace.uevent", version: 1, fields: "message 0 * bytes")
    public static let kmsg = CaptureRecordType(
        id: SourceKind.kmsg.rawValue, name: "storetrace.kmsg", version: 1, fields: "record 0 * bytes")
    /// The failed call it explains, then the holder report as JSON (`HoldersRecordCodec`).
    public static let holders = CaptureRecordType(
        id: SourceKind.holders.rawValue, name: "storetrace.holders", version: 1,
        fields: "explained_ts_ns 0 8 u64\npid 8 4 u32\ntid 12 4 u32\ntype 16 16 char[16]\ncomm 32 16 char[16]\nreport 48 * bytes")
    /// struct st_claim_event as BPF wrote it (`ClaimRecord`).
    public static let claim = CaptureRecordType(
        id: SourceKind.claim.rawValue, name: "storetrace.claim", version: 1, fields: ClaimSchema.fieldText)
    /// A block queue setting that changed (`QueueSettingCodec`).
    public static let queueSetting = CaptureRecordType(
        id: SourceKind.queueSetting.rawValue, name: "storetrace.queue_setting", version: 1,
        fields: "major 0 4 u32\nminor 4 4 u32\nsetting 8 1 u8\nhas_old 9 1 u8\ndevice_len 10 1 u8\nold_len 11 1 u8\nnew_len 12 1 u8\nreserved 13 3 bytes\ntext 16 * bytes")
    /// One per enabled ftrace event: "SYSTEM\0" followed by its format file.
    public static let ftraceFormat = CaptureRecordType(
        id: 16, name: "storetrace.ftrace_format", version: 1, fields: "system_and_format 0 * bytes")
    /// A kernel address and its symbol: u64 address, then "name+0xoff".
    public static let kernelSymbol = CaptureRecordType(
        id: 17, name: "storetrace.ksym", version: 1, fields: "address 0 8 u64\nsymbol 8 * bytes")
    /// A thread of an ftrace event, once per thread: u32 tid, u32 tgid, comm.
    public static let task = CaptureRecordType(
        id: 18, name: "storetrace.task", version: 1, fields: "tid 0 4 u32\ntgid 4 4 u32\ncomm 8 * bytes")

    /// The device table (`DeviceTable`): a node snapshot's JSON holding only
    /// the block devices and the block-backed mounts of every namespace,
    /// written at the start and whenever it changes. Id 7 is this type's
    /// (not a source kind: it is state, read in place like task records).
    public static let devices = CaptureRecordType(
        id: 7, name: "storetrace.devices", version: 1, fields: "snapshot_json 0 * bytes")

    /// The cgroup path of the processes of syscall events (`CgroupPathCodec`):
    /// once per cgroup id or process resolved, before the first event that
    /// needs it, so replay shows the same pod and container.
    public static let cgroupPath = CaptureRecordType(
        id: 19, name: "storetrace.cgroup", version: 1,
        fields: "cgroup_id 0 8 u64\npid 8 4 u32\nsource 12 1 u8\nreserved 13 3 bytes\npath 16 * bytes")

    /// A line storetrace said on its status output as it started: a source
    /// the kernel refused, a syscall it could not trace, a buffer it had to
    /// enlarge (`NoticeCodec`). A capture without some events then says why,
    /// in `info` and `report`, wherever it is read.
    public static let notice = CaptureRecordType(
        id: 20, name: "storetrace.notice", version: 1, fields: "text 0 * bytes")

    /// What `record` registers in every capture it writes.
    public static let written: [CaptureRecordType] = [syscall, ftrace, uevent, kmsg, holders, claim, queueSetting, ftraceFormat, kernelSymbol, task, devices, cgroupPath, notice]
    /// What `replay` reads: everything written now and every older version.
    public static let readable: [CaptureRecordType] = written + [ftraceV1]

    /// The type of the source kind's data records, as written now.
    public static func written(for kind: SourceKind) -> CaptureRecordType {
        switch kind {
        case .syscall: syscall
        case .ftrace: ftrace
        case .uevent: uevent
        case .kmsg: kmsg
        case .holders: holders
        case .claim: claim
        case .queueSetting: queueSetting
        }
    }

    /// Whether `replay` knows this schema (the reader skips and counts the rest).
    public static func isReadable(_ schema: CaptureSchema) -> Bool {
        readable.contains { $0.matches(schema) }
    }
}

/// What a record of one file-local type id is to replay, decided once per
/// id (ids are bound to one schema for the whole file), so the per-record
/// path is one table load and no string compares.
public enum CaptureRecordRole: Equatable, Sendable {
    case skip
    case data(SourceKind, cpuInPayload: Bool)
    case ftraceFormat
    case kernelSymbol
    case task
    case devices
    case cgroupPath
    /// Read by `info` and `report`, not by the pipeline.
    case notice

    public init(_ schema: CaptureSchema?) {
        guard let schema else { self = .skip; return }
        let types = CaptureRecordTypes.self
        if types.ftraceFormat.matches(schema) { self = .ftraceFormat }
        else if types.kernelSymbol.matches(schema) { self = .kernelSymbol }
        else if types.task.matches(schema) { self = .task }
        else if types.devices.matches(schema) { self = .devices }
        else if types.cgroupPath.matches(schema) { self = .cgroupPath }
        else if types.notice.matches(schema) { self = .notice }
        else if types.ftrace.matches(schema) { self = .data(.ftrace, cpuInPayload: true) }
        else if types.ftraceV1.matches(schema) { self = .data(.ftrace, cpuInPayload: false) }
        else if let kind = SourceKind.allCases.first(where: { CaptureRecordTypes.written(for: $0).matches(schema) }) {
            self = .data(kind, cpuInPayload: false)
        } else { self = .skip }
    }
}

// MARK: Payload codecs

/// Data records: a source's record as it delivered it (ftrace: with its CPU).
public enum DataRecordCodec {
    /// Bytes before the source's own record in the payload (ftrace: the CPU).
    public static func headerSize(of kind: SourceKind) -> Int { kind == .ftrace ? 8 : 0 }

    /// Writes the payload header of `record` (nothing for most kinds) into
    /// `buffer`, which has room for `headerSize(of:)` bytes; the record's
    /// bytes follow it in the payload.
    public static func writeHeader(of record: RawRecord, into buffer: UnsafeMutableRawBufferPointer) {
        guard record.source == .ftrace else { return }
        buffer.storeBytes(of: record.cpu.littleEndian, toByteOffset: 0, as: UInt32.self)
        buffer.storeBytes(of: 0, toByteOffset: 4, as: UInt32.self)
    }

    /// The record a payload holds; nil if it is too short for its header.
    public static func decode(kind: SourceKind, cpuInPayload: Bool, timestamp: UInt64, flags: UInt16,
                              payload: UnsafeRawBufferPointer) -> RawRecord? {
        if kind == .ftrace && cpuInPayload {
            var reader = ByteReader(payload, order: .little)
            guard let cpu = reader.read(UInt32.self), reader.skip(4) else { return nil }
            return RawRecord(source: kind, timestamp: timestamp, cpu: cpu, bytes: reader.remaining)
        }
        // Version 1 of ftrace kept the CPU in the record flags.
        return RawRecord(source: kind, timestamp: timestamp, cpu: kind == .ftrace ? UInt32(flags) : 0, bytes: payload)
    }
}

/// storetrace.holders: the failed call a scan explains (u64 its stamp, u32
/// pid, u32 tid, its event type and comm in 16 bytes each, NUL-padded),
/// then the holder report as JSON (`HolderReport.jsonText()`).
public enum HoldersRecordCodec {
    public struct Explained: Equatable, Sendable {
        public var timestamp: UInt64
        public var pid: UInt32
        public var tid: UInt32
        public var type: [UInt8]
        public var comm: [UInt8]

        public init(timestamp: UInt64, pid: UInt32, tid: UInt32, type: [UInt8], comm: [UInt8]) {
            self.timestamp = timestamp
            self.pid = pid
            self.tid = tid
            self.type = type
            self.comm = comm
        }
    }

    static let headerSize = 48

    public static func encode(_ explained: Explained, reportJSON: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + reportJSON.utf8.count)
        withUnsafeBytes(of: explained.timestamp.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: explained.pid.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: explained.tid.littleEndian) { bytes += $0 }
        for field in [explained.type, explained.comm] {
            let kept = field.prefix(15)
            bytes += kept + [UInt8](repeating: 0, count: 16 - kept.count)
        }
        return bytes + Array(reportJSON.utf8)
    }

    /// The header, and the report's JSON bytes (in place); nil if too short.
    public static func decode(_ payload: UnsafeRawBufferPointer) -> (Explained, report: UnsafeRawBufferPointer)? {
        var reader = ByteReader(payload, order: .little)
        guard let timestamp = reader.read(UInt64.self), let pid = reader.read(UInt32.self),
              let tid = reader.read(UInt32.self), payload.count >= headerSize else { return nil }
        func text(_ range: Range<Int>) -> [UInt8] { Array(payload[range].prefix { $0 != 0 }) }
        let explained = Explained(timestamp: timestamp, pid: pid, tid: tid, type: text(16..<32), comm: text(32..<48))
        return (explained, UnsafeRawBufferPointer(rebasing: payload[headerSize...]))
    }
}

/// storetrace.queue_setting: u32 major, u32 minor, u8 setting
/// (`QueueSetting` raw value), u8 1 if there is an old value (0: the disk
/// appeared), u8 lengths of the device name, old and new value, three zero
/// bytes, then the three texts one after the other (each at most 255 bytes).
public enum QueueSettingCodec {
    static let headerSize = 16

    public static func encode(_ change: QueueSettingChange) -> [UInt8] {
        let device = change.device.prefix(255), old = (change.old ?? []).prefix(255), new = change.new.prefix(255)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + device.count + old.count + new.count)
        withUnsafeBytes(of: change.major.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: change.minor.littleEndian) { bytes += $0 }
        bytes += [change.setting.rawValue, change.old == nil ? 0 : 1, UInt8(device.count), UInt8(old.count), UInt8(new.count), 0, 0, 0]
        return bytes + device + old + new
    }

    /// nil if the payload is too short for what its header says, or names an unknown setting.
    public static func decode(_ payload: UnsafeRawBufferPointer) -> QueueSettingChange? {
        var reader = ByteReader(payload, order: .little)
        guard let major = reader.read(UInt32.self), let minor = reader.read(UInt32.self),
              let rawSetting = reader.read(UInt8.self), let setting = QueueSetting(rawValue: rawSetting),
              let hasOld = reader.read(UInt8.self), hasOld <= 1,
              let deviceLength = reader.read(UInt8.self), let oldLength = reader.read(UInt8.self),
              let newLength = reader.read(UInt8.self), reader.skip(3),
              payload.count == headerSize + Int(deviceLength) + Int(oldLength) + Int(newLength),
              hasOld == 1 || oldLength == 0
        else { return nil }
        var offset = headerSize
        func take(_ length: UInt8) -> [UInt8] {
            defer { offset += Int(length) }
            return Array(payload[offset..<(offset + Int(length))])
        }
        let device = take(deviceLength), old = take(oldLength), new = take(newLength)
        return QueueSettingChange(major: major, minor: minor, device: device, setting: setting,
                                  old: hasOld == 1 ? old : nil, new: new)
    }
}

/// storetrace.ftrace_format: "SYSTEM\0" then the event's format file.
public enum FtraceFormatCodec {
    public static func encode(system: String, formatText: String) -> [UInt8] {
        Array(system.utf8) + [0] + Array(formatText.utf8)
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) -> (system: String, format: EventFormat)? {
        guard let nul = payload.firstIndex(of: 0) else { return nil }
        let system = String(decoding: payload[..<nul], as: UTF8.self)
        guard let format = try? EventFormat(parsing: UnsafeRawBufferPointer(rebasing: payload[(nul + 1)...])) else { return nil }
        return (system, format)
    }
}

/// storetrace.ksym: u64 address (little-endian), then the symbol text.
public enum KernelSymbolCodec {
    public static func encode(address: UInt64, name: String) -> [UInt8] {
        withUnsafeBytes(of: address.littleEndian) { Array($0) } + Array(name.utf8)
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) -> (address: UInt64, name: String)? {
        var reader = ByteReader(payload, order: .little)
        guard let address = reader.read(UInt64.self), !reader.remaining.isEmpty else { return nil }
        return (address, String(decoding: reader.remaining, as: UTF8.self))
    }
}

/// storetrace.task: u32 tid, u32 tgid (little-endian), then at most 15 bytes of comm.
public enum TaskCodec {
    public static func encode(tid: Int32, _ identity: TaskIdentity) -> [UInt8] {
        withUnsafeBytes(of: UInt32(bitPattern: tid).littleEndian) { Array($0) }
            + withUnsafeBytes(of: UInt32(bitPattern: identity.tgid).littleEndian) { Array($0) }
            + identity.comm.prefix(15)
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) -> (tid: Int32, identity: TaskIdentity)? {
        guard payload.count <= 8 + 15 else { return nil }
        var reader = ByteReader(payload, order: .little)
        guard let tid = reader.read(Int32.self), let tgid = reader.read(Int32.self) else { return nil }
        return (tid, TaskIdentity(tgid: tgid, comm: Array(reader.remaining)))
    }
}

/// storetrace.cgroup: u64 cgroup id, u32 pid, u8 source, three zero bytes,
/// then the cgroup path. Source 1: the path of the cgroup v2 directory whose
/// inode is the cgroup id (pid 0); source 2: the path /proc/PID/cgroup gave
/// for process `pid` on a cgroup v1 or hybrid host (`ProcCgroupFile`), with
/// the cgroup id its events carried. The path, not what it decodes to, is
/// stored: a later decoder reads old captures its own way.
public enum CgroupPathCodec {
    public enum Source: UInt8, Sendable {
        case cgroupID = 1
        case process = 2
    }

    public struct Entry: Equatable, Sendable {
        public var cgroupID: UInt64
        public var pid: UInt32
        public var source: Source
        public var path: [UInt8]

        public init(cgroupID: UInt64, pid: UInt32, source: Source, path: [UInt8]) {
            self.cgroupID = cgroupID
            self.pid = pid
            self.source = source
            self.path = path
        }
    }

    static let headerSize = 16
    /// Longer paths are cut (cgroup paths are far shorter; PATH_MAX).
    public static let pathLimit = 4096

    public static func encode(_ entry: Entry) -> [UInt8] {
        var bytes: [UInt8] = []
        let path = entry.path.prefix(pathLimit)
        bytes.reserveCapacity(headerSize + path.count)
        withUnsafeBytes(of: entry.cgroupID.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: entry.pid.littleEndian) { bytes += $0 }
        bytes += [entry.source.rawValue, 0, 0, 0]
        return bytes + path
    }

    /// nil if shorter than the header, of an unknown source, or with a path
    /// that is empty or longer than `pathLimit`.
    public static func decode(_ payload: UnsafeRawBufferPointer) -> Entry? {
        var reader = ByteReader(payload, order: .little)
        guard let cgroupID = reader.read(UInt64.self), let pid = reader.read(UInt32.self),
              let rawSource = reader.read(UInt8.self), let source = Source(rawValue: rawSource), reader.skip(3),
              !reader.remaining.isEmpty, reader.remaining.count <= pathLimit else { return nil }
        return Entry(cgroupID: cgroupID, pid: pid, source: source, path: Array(reader.remaining))
    }
}

/// storetrace.notice: the line's text (UTF-8 as said, without the
/// "storetrace: " prefix), at most `textLimit` bytes.
public enum NoticeCodec {
    /// Notices are one line; a longer one is cut (at a character boundary).
    public static let textLimit = 1024

    public static func encode(_ text: String) -> [UInt8] {
        var bytes = Array(text.utf8)
        guard bytes.count > textLimit else { return bytes }
        var end = textLimit
        while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 } // not inside a character
        bytes.removeSubrange(end...)
        return bytes
    }

    /// nil if empty or longer than `textLimit`. The text is as stored:
    /// whoever shows it escapes it.
    public static func decode(_ payload: UnsafeRawBufferPointer) -> String? {
        guard !payload.isEmpty, payload.count <= textLimit else { return nil }
        return String(decoding: payload, as: UTF8.self)
    }
}

extension CaptureField {
    /// A member of an imported C struct, placed and sized as Swift lays the
    /// struct out (as the C compiler does): the schemas of BPF records.
    init<Record, T>(member name: String, _ path: KeyPath<Record, T>, _ type: String, of sample: Record) {
        self.init(name: name, offset: MemoryLayout<Record>.offset(of: path)!,
                  size: MemoryLayout.size(ofValue: sample[keyPath: path]), type: type)
    }
}

/// The field text of storetrace.syscall, generated from the layout Swift
/// imports from storetrace_abi.h (the header BPF is compiled with), so the
/// schema stored in captures cannot drift from the record.
public enum SyscallSchema {
    public static let fields: [CaptureField] = {
        typealias Event = st_syscall_event
        let sample = Event()
        func field<T>(_ name: String, _ path: KeyPath<Event, T>, _ type: String) -> CaptureField {
            CaptureField(member: name, path, type, of: sample)
        }
        return [
            field("kind", \.kind, "u16"),
            field("size", \.size, "u16"),
            field("nstr", \.nstr, "u8"),
            field("truncated", \.truncated, "u8"),
            field("faulted", \.faulted, "u8"),
            field("null", \.null, "u8"),
            field("pid", \.pid, "u32"),
            field("tid", \.tid, "u32"),
            field("uid", \.uid, "u32"),
            field("mntns", \.mntns, "u32"),
            field("cgroup_id", \.cgroup_id, "u64"),
            field("ts_ns", \.ts_ns, "u64"),
            field("latency_ns", \.latency_ns, "u64"),
            field("ret", \.ret, "i64"),
            field("args", \.args, "u64[6]"),
            field("detail", \.detail, "bytes"),
            field("comm", \.comm, "char[16]"),
            field("str_len", \.str_len, "u16[4]"),
            CaptureField(name: "strings", offset: MemoryLayout<Event>.size, size: nil, type: "bytes"),
        ]
    }()

    public static let fieldText = CaptureField.render(fields)
}

/// The field text of storetrace.claim, from the imported struct st_claim_event.
public enum ClaimSchema {
    public static let fields: [CaptureField] = {
        typealias Event = st_claim_event
        let sample = Event()
        func field<T>(_ name: String, _ path: KeyPath<Event, T>, _ type: String) -> CaptureField {
            CaptureField(member: name, path, type, of: sample)
        }
        return [
            field("kind", \.kind, "u16"),
            field("size", \.size, "u16"),
            field("dev", \.dev, "u32"),
            field("pid", \.pid, "u32"),
            field("tid", \.tid, "u32"),
            field("mntns", \.mntns, "u32"),
            field("uid", \.uid, "u32"),
            field("ts_ns", \.ts_ns, "u64"),
            field("holder", \.holder, "u64"),
            field("ret", \.ret, "i64"),
            field("comm", \.comm, "char[16]"),
        ]
    }()

    public static let fieldText = CaptureField.render(fields)
}

/// The clock of a capture: the first clock sample in the file (written at
/// creation, before any event), else the header's creation times.
public enum CaptureClock {
    public static func offset(of reader: CaptureReader) -> ClockOffset {
        ClockOffset(realtimeMinusMonotonic: reader.clockSamples.first?.realtimeOffsetNs
            ?? Int64(bitPattern: reader.header.creationRealtimeNs &- reader.header.creationMonotonicNs))
    }
}

extension CaptureRecordTypes {
    /// Why this host cannot decode the capture's payloads, or nil if it can.
    /// Syscall records are the kernel's structs in the recording host's byte
    /// order, and the header says which that was.
    public static func byteOrderProblem(_ header: CaptureFileHeader) -> String? {
        guard header.payloadByteOrder != CaptureFileHeader.hostByteOrder else { return nil }
        func name(_ order: UInt8) -> String {
            order == CaptureFormat.byteOrderLittle ? "little-endian" : order == CaptureFormat.byteOrderBig ? "big-endian" : "unknown (\(order))"
        }
        return "recorded on a \(name(header.payloadByteOrder)) host; this storetrace reads \(name(CaptureFileHeader.hostByteOrder)) records only"
    }
}
