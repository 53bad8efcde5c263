import StoretraceCapture
import StoretraceDecode
import StoretraceRecords

/// The consumer that writes every event that passed the filters into a
/// capture, with what replay needs to decode it elsewhere: the kernel
/// symbols of function events, the threads of ftrace events (`appendTask`),
/// the ftrace formats and node snapshots (from the session). The first
/// write error (a full disk) stops recording: what was flushed before stays
/// readable, and the session ends with that error.
public final class CaptureRecorder: EventConsumer {
    public let writer: CaptureWriter
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
    public init(path: String, options: CaptureWriterOptions, decoder: EventDecoder) throws(CaptureError) {
        writer = try CaptureWriter(path: path, options: options)
        for type in CaptureRecordTypes.written {
            try writer.registerType(id: type.id, name: type.name, version: type.version, schema: type.fields)
        }
        clock = ClockOffset(realtimeMinusMonotonic: writer.initialClockSample.realtimeOffsetNs)
        self.decoder = decoder
    }

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
        }
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
        do {
            try writer.appendRepeated(type: CaptureRecordTypes.ftraceFormat.id, timestamp: timestamp,
                                      bytes: FtraceFormatCodec.encode(system: system, formatText: formatText))
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
        metadata(type: CaptureRecordTypes.task, timestamp: timestamp, TaskCodec.encode(tid: tid, identity))
    }

    private func metadata(type: CaptureRecordType, timestamp: UInt64, _ bytes: [UInt8]) {
        guard failure == nil else { return }
        do { try writer.append(type: type.id, timestamp: timestamp, bytes: bytes) } catch { failure = error }
    }

    /// The device table, where it took effect among the records.
    public func devicesChanged(_ table: DeviceTable, json: [UInt8], timestamp: UInt64) {
        metadata(type: CaptureRecordTypes.devices, timestamp: timestamp, json)
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
