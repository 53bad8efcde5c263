import Glibc
import StoretraceDecode
import StoretraceRecords
import SystemPackage

/// Reads a `TracefsInstance`'s ring buffer in binary: one
/// `per_cpu/cpuN/trace_pipe_raw` per online CPU, a page per read, decoded in
/// place into `.ftrace` records (the event payload, common fields first).
///
/// Timestamps are in the instance's trace clock: CLOCK_MONOTONIC nanoseconds
/// when `instance.clockIsMonotonic` (the normal case), so they merge with the
/// other sources. Records of one CPU come in time order; merging CPUs (and
/// sources) by time is the consumer's job.
///
/// The source owns the instance from here on: `close()` closes the per-CPU
/// files, then closes (restores and removes) the instance, in that order,
/// because an open trace_pipe_raw keeps the instance busy.
public final class FtraceSource: RecordSource {
    public let kind = SourceKind.ftrace
    public let instance: TracefsInstance
    /// Page layout, from events/header_page; its pageSize is what each read returns.
    public let pageFormat: PageHeaderFormat
    /// The formats of every enabled event (and ftrace:function when the
    /// function tracer is on), ready to decode records with.
    public let catalog: FtraceEventCatalog
    /// Kernel symbols for the function tracer's addresses; nil when the
    /// tracer is off (then /proc/kallsyms is never read).
    public let symbols: KernelSymbolTable?
    /// Formats that could not be loaded; their records count as "ftrace unknown event".
    public private(set) var warnings: [SourceWarning] = []

    public var formats: [UInt16: EventFormat] { catalog.formats }
    public var pollFDs: [Int32] { readers.map(\.fd) }

    private struct CPUReader {
        let cpu: UInt32
        var fd: Int32
        /// One page, reused for every read of this CPU.
        let page: UnsafeMutableRawBufferPointer
    }

    private var readers: [CPUReader] = []
    private let maxPagesPerDrain: Int
    private var overrunEvents: UInt64 = 0
    /// Pages the kernel flagged as following lost events: a count of pages,
    /// not events, so it is not in `losses` (whose counts a session adds up
    /// as events). `overrunPagesWithoutCount` of them had no room for the
    /// number: at least one event each, how many is unknown.
    public private(set) var overrunPages: UInt64 = 0
    public private(set) var overrunPagesWithoutCount: UInt64 = 0
    private var malformedPages: UInt64 = 0
    private var readErrors: UInt64 = 0
    private var closed = false

    /// Opens the per-CPU readers and starts tracing in `instance`.
    /// `maxPagesPerDrain` bounds one `drain` per CPU so the other sources get
    /// their turn; the loop calls again while data remains (level-triggered).
    public init(instance: TracefsInstance, maxPagesPerDrain: Int = 64) throws(KernelError) {
        self.instance = instance
        self.maxPagesPerDrain = max(1, maxPagesPerDrain)

        // Instances have their own events/header_page on current kernels;
        // older ones only at the top level. The layout is the same.
        let instanceHeader = instance.file("events/header_page")
        let topLevelHeader: String = instance.tracefs.path + "/events/header_page"
        let headerPath = access(instanceHeader, R_OK) == 0 ? instanceHeader : topLevelHeader
        switch TracefsFiles.read(headerPath) {
        case .success(let text):
            do {
                pageFormat = try PageHeaderFormat(parsing: text)
            } catch {
                throw .missingFeature("a readable ring-buffer page layout (\(headerPath): \(error))")
            }
        case .failure(let failure):
            throw .tracefs(path: headerPath, errno: failure, action: "read")
        }

        var loaded: [(system: String, format: EventFormat)] = []
        var formatWarnings: [SourceWarning] = []
        let wanted = instance.enabledEvents + instance.functionTracerEvents
        for event in wanted {
            let path = instance.file(event.directory + "/format")
            switch TracefsFiles.read(path) {
            case .success(let text):
                do {
                    loaded.append((event.system, try EventFormat(parsing: text)))
                } catch {
                    formatWarnings.append(.init(source: "event \(event)", reason: "cannot parse \(path): \(error); its records are counted, not shown"))
                }
            case .failure(let failure):
                formatWarnings.append(.init(source: "event \(event)", reason: "cannot read \(path): \(failure.symbolicDescription)"))
            }
        }
        catalog = FtraceEventCatalog(formats: loaded)
        warnings = formatWarnings
        symbols = instance.functionTracerOn ? Self.loadKernelSymbols() : nil

        let onlineText = (try? readFile("/sys/devices/system/cpu/online")) ?? "0"
        for cpu in CPUList.parse(onlineText[...]) ?? [0] {
            let path = instance.file("per_cpu/cpu\(cpu)/trace_pipe_raw")
            let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            if fd < 0 {
                let failure = Errno(rawValue: errno)
                closeReaders()
                throw .tracefs(path: path, errno: failure, action: "open")
            }
            let page = UnsafeMutableRawBufferPointer.allocate(byteCount: pageFormat.pageSize, alignment: 8)
            readers.append(CPUReader(cpu: UInt32(cpu), fd: fd, page: page))
        }
        do {
            try instance.start()
        } catch {
            closeReaders()
            throw error
        }
    }

    deinit {
        close()
    }

    /// /proc/kallsyms, read once. Root sees real addresses; otherwise
    /// `addressesHidden` is true and nothing resolves.
    public static func loadKernelSymbols() -> KernelSymbolTable? {
        guard case .success(let text) = TracefsFiles.read("/proc/kallsyms") else { return nil }
        return KernelSymbolTable(parsingKallsyms: text)
    }

    /// `bind_store+0x1c` for an ip or parent_ip, or the hex address.
    public func describe(address: UInt64) -> String {
        symbols?.describe(address) ?? "0x" + String(address, radix: 16)
    }

    /// The format file of every event this source decodes, as text, for a
    /// capture (replay decodes with the formats of the node that recorded).
    public func formatTexts(tracefs: TracefsMount) -> [(system: String, text: String)] {
        let events = instance.enabledEvents + instance.functionTracerEvents
        return events.compactMap { event in
            (try? readFile(tracefs.path + "/" + event.directory + "/format")).map { (event.system, $0) }
        }
    }

    @discardableResult
    public func drain(_ emit: @escaping (RawRecord) -> Void) -> Int {
        var delivered = 0
        for index in readers.indices {
            let reader = readers[index]
            guard reader.fd >= 0 else { continue }
            var pages = 0
            while pages < maxPagesPerDrain {
                let count = read(reader.fd, reader.page.baseAddress, reader.page.count)
                if count < 0 {
                    if errno == EINTR { continue }
                    if errno != EAGAIN { readErrors += 1 }
                    break
                }
                if count == 0 { break }
                pages += 1
                let bytes = UnsafeRawBufferPointer(rebasing: reader.page[0..<count])
                let summary = FtracePage.forEachEvent(in: bytes, format: pageFormat) { (timestamp, payload) throws(Never) in
                    emit(RawRecord(source: .ftrace, timestamp: timestamp, cpu: reader.cpu, bytes: payload))
                }
                delivered += summary.dataEventCount
                if summary.hasMissedEvents {
                    overrunPages += 1
                    if let missed = summary.missedEventCount { overrunEvents += missed } else { overrunPagesWithoutCount += 1 }
                }
                if summary.problem != nil { malformedPages += 1 }
            }
        }
        return delivered
    }

    public var losses: [LossCount] {
        [
            // Events the kernel overwrote before we read them (the count
            // when the page stored it; "pages" counts every flagged page,
            // including those whose count the kernel had no room for).
            LossCount(name: "ftrace overrun", count: overrunEvents, kind: .events),
            LossCount(name: "ftrace overrun pages", count: overrunPages, kind: .occurrences),
            LossCount(name: "ftrace malformed pages", count: malformedPages, kind: .occurrences),
            LossCount(name: "ftrace read errors", count: readErrors, kind: .occurrences),
        ]
    }

    /// Closes the per-CPU files, then the instance (restoring and removing it).
    public func close() {
        guard !closed else { return }
        closed = true
        closeReaders()
        instance.close()
    }

    private func closeReaders() {
        for reader in readers {
            if reader.fd >= 0 { Glibc.close(reader.fd) }
            reader.page.deallocate()
        }
        readers = []
    }
}
