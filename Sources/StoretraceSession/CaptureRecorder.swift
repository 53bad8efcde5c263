import Glibc
import StoretraceCapture
import StoretraceDecode
import StoretraceKernel
import StoretraceRecords

/// The consumer that writes every event that passed the filters into a
/// capture, with what replay needs to decode it elsewhere: the kernel
/// symbols of function events, the threads of ftrace events (`appendTask`),
/// the ftrace formats and node snapshots (from the session). The first
/// write error (a full disk) stops recording: what was flushed before stays
/// readable, and the session ends with that error.
///
/// With a `CaptureRing` (`record --rotate`), a file that reached its size is
/// closed after the record that filled it and the next one is started with
/// what the first one started with (the schemas, the start snapshot, the
/// ftrace formats, the device table in force, every thread named so far),
/// so each file replays on its own exactly as `record --live` printed. Each
/// file's trailer holds the losses counted while it was written.
public final class CaptureRecorder: EventConsumer {
    public private(set) var writer: CaptureWriter
    public let ring: CaptureRing?
    /// The loss counters now (the session's sources), for a rotated file's trailer.
    public var lossesNow: () -> [LossCount] = { [] }
    /// Files closed by rotation, and their bytes.
    public private(set) var rotations: UInt64 = 0
    private var closedBytes: UInt64 = 0
    /// Ring files that could not be removed (path: errno), last first.
    public private(set) var pruneFailures: [(path: String, errno: Int32)] = []
    private let options: CaptureWriterOptions
    /// Loss counters at the start of the current file.
    private var lossBase: [LossCount] = []
    // What every file starts with.
    private var startSnapshot: [UInt8]?
    private var formats: [[UInt8]] = []
    private var devicesJSON: [UInt8]?
    private var tasks: [Int32: TaskIdentity] = [:]
    private var cgroupPaths: [[UInt8]] = []
    /// The notices said at start, repeated in each file of a ring.
    private var notices: [[UInt8]] = []
    public private(set) var failure: CaptureError?
    /// --max-size was reached: a normal stop, not a failure.
    public private(set) var limitReached = false
    /// The capture's clock: the sample its readers use, so that `record
    /// --live` and `replay` print the same times.
    public let clock: ClockOffset
    private let decoder: EventDecoder
    private var symbolsWritten: Set<UInt64> = []
    /// Records refused after recording stopped (a write error, --max-size).
    private var refused: UInt64 = 0
    /// Where a payload with a header (ftrace: its CPU) is put together;
    /// grown to the largest record seen, then reused.
    private var scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)

    deinit { scratch.deallocate() }

    /// Events that passed the filters but are not in the capture: refused
    /// after a stop, or buffered when the disk filled. Final after `close`.
    public var unwritten: UInt64 { refused + writer.dataRecordsBuffered }

    /// `decoder` names the kernel addresses of function events.
    /// With `ring`, `path` is ignored: files are named by the ring.
    public init(path: String, options: CaptureWriterOptions, decoder: EventDecoder, ring: CaptureRing? = nil) throws(CaptureError) {
        self.ring = ring
        self.options = options
        writer = try Self.open(ring.map { $0.path(startedAt: KernelClock.now(CLOCK_REALTIME)) } ?? path, options)
        clock = ClockOffset(realtimeMinusMonotonic: writer.initialClockSample.realtimeOffsetNs)
        self.decoder = decoder
        if let ring { pruneFailures = ring.prune().reversed() }
    }

    private static func open(_ path: String, _ options: CaptureWriterOptions) throws(CaptureError) -> CaptureWriter {
        let writer = try CaptureWriter(path: path, options: options)
        for type in CaptureRecordTypes.written {
            try writer.registerType(id: type.id, name: type.name, version: type.version, schema: type.fields)
        }
        return writer
    }

    /// Capture bytes written, over every file of a ring (the removed ones too).
    public var bytesWritten: UInt64 { closedBytes &+ writer.projectedSize }

    public func consume(_ event: Event, raw: RawRecord) {
        if case .ftrace(let view, _) = event {
            if let call = view.functionCall {
                appendSymbol(call.ip, timestamp: raw.timestamp)
                appendSymbol(call.parentIP, timestamp: raw.timestamp)
            } else if let call = view.graphCall {
                appendSymbol(call.function, timestamp: raw.timestamp)
            }
        }
        guard failure == nil, !limitReached else {
            refused &+= 1
            return
        }
        do {
            try writer.append(type: raw.source.rawValue, timestamp: raw.timestamp, payload: payload(of: raw))
        } catch {
            refused &+= 1
            if case .sizeLimitReached = error { limitReached = true } else { failure = error }
            return
        }
        if let ring, writer.projectedSize >= ring.fileSize { rotate(ring, timestamp: raw.timestamp) }
    }

    /// Closes the full file and starts the next with what the first began with.
    private func rotate(_ ring: CaptureRing, timestamp: UInt64) {
        let losses = lossesNow()
        let next = ring.path(startedAt: KernelClock.now(CLOCK_REALTIME))
        do {
            try writer.close(trailer: trailer(drops: losses, note: "rotated: continued in \(next)"))
        } catch {
            failure = error
            return
        }
        closedBytes &+= writer.bytesWritten
        rotations &+= 1
        lossBase = losses
        do {
            writer = try Self.open(next, options)
        } catch {
            failure = error
            return
        }
        if let startSnapshot { appendSnapshot(startSnapshot) }
        for bytes in formats {
            guard failure == nil else { break }
            do { try writer.appendRepeated(type: CaptureRecordTypes.ftraceFormat.id, timestamp: timestamp, bytes: bytes) } catch { failure = error }
        }
        if let devicesJSON { metadata(type: CaptureRecordTypes.devices, timestamp: timestamp, devicesJSON) }
        for (tid, identity) in tasks.sorted(by: { $0.key < $1.key }) {
            metadata(type: CaptureRecordTypes.task, timestamp: timestamp, TaskCodec.encode(tid: tid, identity))
        }
        for bytes in cgroupPaths { metadata(type: CaptureRecordTypes.cgroupPath, timestamp: timestamp, bytes) }
        for bytes in notices { metadata(type: CaptureRecordTypes.notice, timestamp: timestamp, bytes) }
        symbolsWritten.removeAll(keepingCapacity: true)
        let failed = ring.prune()
        if !failed.isEmpty { pruneFailures = failed.reversed() + pruneFailures.prefix(8) }
    }

    /// The trailer of the current file: the losses counted while it was written.
    private func trailer(drops: [LossCount], note: String) -> CaptureTrailerInfo {
        let counted = drops.map { loss in
            CaptureDropCounter(source: loss.name, count: loss.count &- (lossBase.first { $0.name == loss.name }?.count ?? 0))
        }
        return CaptureTrailerInfo(drops: counted, note: note)
    }

    /// The record's bytes as its capture type stores them.
    @inline(__always)
    private func payload(of raw: RawRecord) -> UnsafeRawBufferPointer {
        let header = DataRecordCodec.headerSize(of: raw.source)
        guard header > 0 else { return raw.bytes }
        let size = header + raw.bytes.count
        if size > scratch.count {
            scratch.deallocate()
            scratch = .allocate(byteCount: size, alignment: 8)
        }
        DataRecordCodec.writeHeader(of: raw, into: scratch)
        if let base = raw.bytes.baseAddress, raw.bytes.count > 0 {
            (scratch.baseAddress! + header).copyMemory(from: base, byteCount: raw.bytes.count)
        }
        return UnsafeRawBufferPointer(rebasing: scratch[0..<size])
    }

    public var stopReason: StopReason? {
        if let failure {
            if case .diskFull = failure { return .diskFull }
            return .captureWriteError
        }
        return limitReached ? .maxSize : nil
    }

    /// Repeated with the schemas (`CaptureWriter.appendRepeated`): a damaged
    /// chunk costs the ftrace events up to the next repetition, not all later ones.
    public func appendFormat(system: String, formatText: String, timestamp: UInt64) {
        guard failure == nil else { return }
        let bytes = FtraceFormatCodec.encode(system: system, formatText: formatText)
        if ring != nil { formats.append(bytes) }
        do {
            try writer.appendRepeated(type: CaptureRecordTypes.ftraceFormat.id, timestamp: timestamp, bytes: bytes)
        } catch {
            failure = error
        }
    }

    /// Writes `address -> name` once per address, so a capture of function
    /// events can be read where /proc/kallsyms differs.
    private func appendSymbol(_ address: UInt64, timestamp: UInt64) {
        guard failure == nil, symbolsWritten.insert(address).inserted else { return }
        metadata(type: CaptureRecordTypes.kernelSymbol, timestamp: timestamp,
                 KernelSymbolCodec.encode(address: address, name: decoder.describeAddress(address)))
    }

    /// Writes which process a thread of an ftrace event belongs to, and its
    /// name, before the thread's first event.
    public func appendTask(tid: Int32, _ identity: TaskIdentity, timestamp: UInt64) {
        if ring != nil {
            if tasks.count >= TaskTable.capacity { tasks.removeAll(keepingCapacity: true) } // as the table does
            tasks[tid] = identity
        }
        metadata(type: CaptureRecordTypes.task, timestamp: timestamp, TaskCodec.encode(tid: tid, identity))
    }

    /// Writes the cgroup path of an event's process (`PodTable`), before the event.
    public func appendCgroupPath(_ entry: CgroupPathCodec.Entry, timestamp: UInt64) {
        let bytes = CgroupPathCodec.encode(entry)
        if ring != nil {
            if cgroupPaths.count >= TaskTable.capacity { cgroupPaths.removeAll(keepingCapacity: true) } // as the table does
            cgroupPaths.append(bytes)
        }
        metadata(type: CaptureRecordTypes.cgroupPath, timestamp: timestamp, bytes)
    }

    /// Writes a line said on the status output at start (a source the
    /// kernel refused, ...), so a capture that lacks its events says why.
    public func appendNotice(_ text: String, timestamp: UInt64) {
        let bytes = NoticeCodec.encode(text)
        if ring != nil && notices.count < Self.noticeLimit { notices.append(bytes) }
        metadata(type: CaptureRecordTypes.notice, timestamp: timestamp, bytes)
    }

    /// Notices a ring repeats in each file (a start says a few).
    static let noticeLimit = 64

    private func metadata(type: CaptureRecordType, timestamp: UInt64, _ bytes: [UInt8]) {
        guard failure == nil else { return }
        do { try writer.append(type: type.id, timestamp: timestamp, bytes: bytes) } catch { failure = error }
    }

    /// The device table, where it took effect among the records.
    public func devicesChanged(_ table: DeviceTable, json: [UInt8], timestamp: UInt64) {
        if ring != nil { devicesJSON = json }
        metadata(type: CaptureRecordTypes.devices, timestamp: timestamp, json)
    }

    /// The first one is the start snapshot every file of a ring repeats.
    public func appendSnapshot(_ json: [UInt8]) {
        if startSnapshot == nil && ring != nil { startSnapshot = json }
        guard failure == nil else { return }
        do { try writer.appendHostSnapshot(json) } catch { failure = error }
    }

    public func flush() {
        guard failure == nil else { return }
        do { try writer.flush() } catch { failure = error }
    }

    public func close(drops: [LossCount], note: String) {
        let trailer = trailer(drops: drops, note: note)
        do {
            try writer.close(trailer: trailer)
        } catch {
            if failure == nil { failure = error }
        }
    }
}
