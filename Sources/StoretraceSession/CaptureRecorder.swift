import StoretraceCapture
import StoretraceRender
import StoretraceDecode
import StoretraceKernel

/// The record types storetrace writes into captures. Names and versions are
/// what a reader matches on (ids are per file); docs/capture-format.md
/// describes each payload.
public enum CaptureTypes {
    public static let syscall = (id: SourceKind.syscall.rawValue, name: "storetrace.syscall", version: UInt16(1))
    public static let ftrace = (id: SourceKind.ftrace.rawValue, name: "storetrace.ftrace", version: UInt16(1))
    public static let uevent = (id: SourceKind.uevent.rawValue, name: "storetrace.uevent", version: UInt16(1))
    public static let kmsg = (id: SourceKind.kmsg.rawValue, name: "storetrace.kmsg", version: UInt16(1))
    /// One per enabled ftrace event: "SYSTEM\0" followed by its format file.
    public static let ftraceFormat = (id: UInt16(16), name: "storetrace.ftrace_format", version: UInt16(1))
    /// A kernel address and its symbol: u64 address, then "name+0xoff".
    public static let kernelSymbol = (id: UInt16(17), name: "storetrace.ksym", version: UInt16(1))
    /// A thread of an ftrace event, once per thread: u32 tid, u32 tgid, comm.
    public static let task = (id: UInt16(18), name: "storetrace.task", version: UInt16(1))

    static let schemas: [(id: UInt16, name: String, version: UInt16, fields: String)] = [
        (syscall.id, syscall.name, syscall.version,
         "kind 0 2 u16\nsize 2 2 u16\nnstr 4 1 u8\ntruncated 5 1 u8\nfaulted 6 1 u8\nnull 7 1 u8\npid 8 4 u32\ntid 12 4 u32\nuid 16 4 u32\nmntns 20 4 u32\ncgroup_id 24 8 u64\nts_ns 32 8 u64\nlatency_ns 40 8 u64\nret 48 8 i64\nargs 56 48 u64[6]\ndetail 104 48 bytes\ncomm 152 16 char[16]\nstr_len 168 8 u16[4]\nstrings 176 * bytes"),
        (ftrace.id, ftrace.name, ftrace.version, "payload 0 * bytes"),
        (uevent.id, uevent.name, uevent.version, "message 0 * bytes"),
        (kmsg.id, kmsg.name, kmsg.version, "record 0 * bytes"),
        (ftraceFormat.id, ftraceFormat.name, ftraceFormat.version, "system_and_format 0 * bytes"),
        (kernelSymbol.id, kernelSymbol.name, kernelSymbol.version, "address 0 8 u64\nsymbol 8 * bytes"),
        (task.id, task.name, task.version, "tid 0 4 u32\ntgid 4 4 u32\ncomm 8 * bytes"),
    ]
}

/// Writes records into a capture as they pass the filters. The first write
/// error (a full disk) stops recording: what was flushed before stays
/// readable, and the session ends with that error.
public final class CaptureRecorder {
    public let writer: CaptureWriter
    public private(set) var failure: CaptureError?
    /// --max-size was reached: a normal stop, not a failure.
    public private(set) var limitReached = false
    public private(set) var clock: ClockOffset
    private var symbolsWritten: Set<UInt64> = []
    /// Records refused after recording stopped (a write error, --max-size).
    private var refused: UInt64 = 0

    /// Events that passed the filters but are not in the capture: refused
    /// after a stop, or buffered when the disk filled. Final after `close`.
    public var unwritten: UInt64 { refused + writer.dataRecordsBuffered }

    public init(path: String, options: CaptureWriterOptions) throws(CaptureError) {
        writer = try CaptureWriter(path: path, options: options)
        for schema in CaptureTypes.schemas {
            try writer.registerType(id: schema.id, name: schema.name, version: schema.version, schema: schema.fields)
        }
        let sample = try writer.appendClockSample()
        clock = ClockOffset(realtimeMinusMonotonic: sample.realtimeOffsetNs)
    }

    @inline(__always)
    public func append(_ record: RawRecord) {
        guard failure == nil, !limitReached else {
            refused &+= 1
            return
        }
        do {
            try writer.append(type: record.source.rawValue, timestamp: record.timestamp, payload: record.bytes,
                              flags: UInt16(truncatingIfNeeded: record.cpu))
        } catch {
            refused &+= 1
            if case .sizeLimitReached = error { limitReached = true } else { failure = error }
        }
    }

    public func appendFormat(system: String, formatText: String, timestamp: UInt64) {
        guard failure == nil else { return }
        do {
            try writer.append(type: CaptureTypes.ftraceFormat.id, timestamp: timestamp,
                              bytes: Array(system.utf8) + [0] + Array(formatText.utf8))
        } catch { failure = error }
    }

    /// Writes `address -> name` once per address, so a capture of function
    /// events can be read where /proc/kallsyms differs.
    public func appendSymbol(_ address: UInt64, name: () -> String, timestamp: UInt64) {
        guard failure == nil, symbolsWritten.insert(address).inserted else { return }
        var bytes = withUnsafeBytes(of: address.littleEndian) { Array($0) }
        bytes += Array(name().utf8)
        do {
            try writer.append(type: CaptureTypes.kernelSymbol.id, timestamp: timestamp, bytes: bytes)
        } catch { failure = error }
    }

    /// Writes which process a thread of an ftrace event belongs to, and its
    /// name, before the thread's first event.
    public func appendTask(tid: Int32, _ identity: TaskIdentity, timestamp: UInt64) {
        guard failure == nil else { return }
        do {
            try writer.append(type: CaptureTypes.task.id, timestamp: timestamp, bytes: TaskTable.encode(tid: tid, identity))
        } catch { failure = error }
    }

    public func appendSnapshot(_ json: [UInt8]) {
        guard failure == nil else { return }
        do { try writer.appendHostSnapshot(json) } catch { failure = error }
    }

    public func flush() {
        guard failure == nil else { return }
        do { try writer.flush() } catch { failure = error }
    }

    public func close(drops: [LossCount], note: String) {
        let trailer = CaptureTrailerInfo(drops: drops.map { CaptureDropCounter(source: $0.name, count: $0.count) }, note: note)
        do {
            try writer.close(trailer: trailer)
        } catch {
            if failure == nil { failure = error }
        }
    }
}
