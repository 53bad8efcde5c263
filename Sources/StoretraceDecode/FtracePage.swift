import StoretraceBytes

// Decoder for one page read from tracefs per_cpu/cpuN/trace_pipe_raw, plus
// the common event fields, the function tracer's event, and a kallsyms
// symbolizer for the addresses it records.
//
// Page layout (kernel/trace/ring_buffer.c, struct buffer_data_page; offsets
// come from events/header_page, see PageHeaderFormat):
//   u64     time_stamp   absolute time of the page's first event
//   local_t commit       low bits: bytes of event data on the page;
//                        bit 31 RB_MISSED_EVENTS: events were lost before this page;
//                        bit 30 RB_MISSED_STORED: the lost count, an unsigned long,
//                        is stored right after the data (at data[length])
//   u8      data[]       events, back to back
//
// Each event starts with a u32 header (include/linux/ring_buffer.h,
// struct ring_buffer_event): type_len in the low 5 bits, time_delta in the
// high 27 bits, followed by u32 array[]. What type_len means, as implemented
// here after the kernel's rb_event_length/rb_event_data/rb_update_read_stamp:
//   1...28  data event; payload is type_len * 4 bytes starting at array[0]
//           (may end with up to 3 alignment bytes).
//   0       data event too big for type_len; array[0] = payload length + 4,
//           i.e. it counts itself (rb_update_event stores the reserved length
//           minus the 4-byte header), payload starts at array[1]. So the event
//           spans 4 + array[0] bytes and the payload is array[0] - 4 bytes.
//   29      PADDING. time_delta == 0: the rest of the page is unused, stop.
//           Otherwise a discarded event spanning 4 + array[0] bytes; skipped.
//           The kernel reader does not add a padding's time_delta to the clock,
//           and neither do we (libtraceevent's kbuffer does; the kernel is the
//           reference).
//   30      TIME_EXTEND, 8 bytes: delta = array[0] << 27 | time_delta, added
//           to the running time (it precedes an event whose own delta did not
//           fit in 27 bits).
//   31      TIME_STAMP, 8 bytes: absolute time = array[0] << 27 | time_delta,
//           which replaces the running time. Only 59 bits are stored, so, as
//           the kernel's rb_fix_abs_ts does, the top 5 bits are taken from the
//           running time, and if that makes the result go backwards the 59-bit
//           field wrapped, so 1 << 59 is added. (Kernels before rb_fix_abs_ts
//           used the 59 bits as is; for clocks below 2^59 both agree.)
// Data events add their time_delta to the running time, which starts at the
// page's time_stamp. Times are in trace_clock units: nanoseconds for the
// default "local" clock and for global/mono/boot, ticks for counter/x86-tsc.
// Integers are read in host byte order: pages are decoded on the machine that
// recorded them.

// MARK: - Page decoding

/// Something wrong with a page. Decoding stops at a bad event (nothing after
/// it can be located), but every event before it has been delivered.
public enum FtracePageProblem: Equatable, Sendable {
    /// The buffer cannot even hold the page header.
    case shorterThanHeader(byteCount: Int, headerSize: Int)
    /// The commit word claims more data than a page holds: a corrupt header,
    /// so no event on the page is trusted.
    case commitBeyondPage(dataLength: Int, dataSize: Int)
    /// The buffer ends before the data the header claims (a short read).
    /// Events wholly inside the buffer were still delivered.
    case truncatedPage(dataLength: Int, availableLength: Int)
    /// An event's header or length runs past the end of the page's data.
    /// `pageOffset` is where the event starts, from the start of the page.
    case eventOverrunsData(pageOffset: Int)
    /// A type_len 0 event whose array[0] is smaller than itself (< 4).
    case invalidEventLength(pageOffset: Int)
    /// RB_MISSED_STORED is set but there is no room for the count after the data.
    case missedCountOutsidePage
}

/// What one pass over a page found, besides the events themselves.
public struct FtracePageSummary: Equatable, Sendable {
    /// The page header's time_stamp: the base time of the first event.
    public var pageTimestamp: UInt64 = 0
    /// Bytes of event data the commit word claims.
    public var dataLength: Int = 0
    /// Data events delivered.
    public var dataEventCount: Int = 0
    /// Discarded events (PADDING with a length) skipped.
    public var discardedEventCount: Int = 0
    public var timeExtendCount: Int = 0
    public var absoluteTimeStampCount: Int = 0
    /// RB_MISSED_EVENTS: the kernel overwrote or dropped events before this page.
    public var hasMissedEvents: Bool = false
    /// The number of missed events when the kernel had room to store it
    /// (RB_MISSED_STORED); nil otherwise, even when hasMissedEvents is true.
    public var missedEventCount: UInt64?
    /// The first problem found, or nil for a well-formed page.
    public var problem: FtracePageProblem?

    public init() {}
}

/// Iterates the data events of one ring-buffer page in place.
///
///     var page = FtracePage(bytes: buffer, format: headerFormat)
///     while let event = page.nextEvent() { ... event.payload ... }
///     if let problem = page.summary.problem { ... }
///
/// The page and every payload view point into `bytes`; they are valid only
/// while that memory is.
public struct FtracePage {
    public struct Event {
        /// Running time after this event's delta (trace_clock units, see top of file).
        public let timestamp: UInt64
        /// The record: common fields first, then the event's own fields.
        public let payload: UnsafeRawBufferPointer
    }

    // RB_MISSED_* live in the low 32 bits of commit; the kernel reads commit
    // as an unsigned int (rb_page_commit), so higher bits are ignored too.
    static let missedEventsFlag: UInt32 = 1 << 31
    static let missedStoredFlag: UInt32 = 1 << 30
    static let commitLengthMask: UInt32 = (1 << 30) - 1

    static let typeLenMask: UInt32 = 0x1F
    static let timeDeltaShift: UInt32 = 5
    static let maxDataTypeLen: UInt32 = 28
    static let paddingType: UInt32 = 29
    static let timeExtendType: UInt32 = 30
    static let timeStampType: UInt32 = 31
    /// Bits of time carried by time_delta; array[0] of TIME_EXTEND/TIME_STAMP
    /// holds the bits above these.
    static let timeDeltaBits: UInt64 = 27

    public let bytes: UnsafeRawBufferPointer
    /// ftrace pages hold the writing kernel's byte order; a capture from
    /// another byte order is refused before its pages get here.
    private var words: ByteReader { ByteReader(bytes, order: .host) }
    public private(set) var summary = FtracePageSummary()

    /// Byte offset in `bytes` of the next event header.
    private var cursor: Int
    /// Offset in `bytes` where this page's usable event data ends.
    private var dataEnd: Int
    private var runningTime: UInt64

    /// Reads the page header. Problems with it end up in `summary.problem`
    /// and make `nextEvent()` return nil straight away.
    public init(bytes: UnsafeRawBufferPointer, format: PageHeaderFormat) {
        self.bytes = bytes
        cursor = 0
        dataEnd = 0
        runningTime = 0

        let headerSize = format.dataOffset
        guard bytes.count >= headerSize else {
            summary.problem = .shorterThanHeader(byteCount: bytes.count, headerSize: headerSize)
            return
        }
        // PageHeaderFormat guarantees both words lie before dataOffset.
        let pageTimestamp = words.field(UInt64.self, at: format.timestampOffset)
        let commit: UInt32 = format.commitSize == 8
            ? UInt32(truncatingIfNeeded: words.field(UInt64.self, at: format.commitOffset))
            : words.field(UInt32.self, at: format.commitOffset)
        let dataLength = Int(commit & Self.commitLengthMask)

        summary.pageTimestamp = pageTimestamp
        summary.dataLength = dataLength
        summary.hasMissedEvents = commit & Self.missedEventsFlag != 0
        runningTime = pageTimestamp

        guard dataLength <= format.dataSize else {
            summary.problem = .commitBeyondPage(dataLength: dataLength, dataSize: format.dataSize)
            return
        }
        let available = bytes.count - headerSize
        if available < dataLength {
            summary.problem = .truncatedPage(dataLength: dataLength, availableLength: available)
        }

        if commit & Self.missedStoredFlag != 0 {
            // ring_buffer_read_page only stores the count when it fits in the
            // page's data area, so the same check tells corrupt from valid.
            let countOffset = headerSize + dataLength
            let countSize = format.commitSize
            if dataLength + countSize <= format.dataSize, countOffset + countSize <= bytes.count {
                summary.missedEventCount = countSize == 8
                    ? words.field(UInt64.self, at: countOffset)
                    : UInt64(words.field(UInt32.self, at: countOffset))
            } else if summary.problem == nil {
                summary.problem = dataLength + countSize <= format.dataSize
                    ? .truncatedPage(dataLength: dataLength + countSize, availableLength: available)
                    : .missedCountOutsidePage
            }
        }

        cursor = headerSize
        dataEnd = headerSize + min(dataLength, available)
    }

    /// The next data event, or nil at the end of the data or at the first bad
    /// event (see `summary.problem`). Time extends, time stamps and padding
    /// are consumed on the way and only show up in the timestamps and counts.
    public mutating func nextEvent() -> Event? {
        while cursor < dataEnd {
            let eventStart = cursor
            let remaining = dataEnd - eventStart
            guard remaining >= 4 else { return stop(.eventOverrunsData(pageOffset: eventStart)) }
            let header = words.field(UInt32.self, at: eventStart)
            let typeLen = header & Self.typeLenMask
            let timeDelta = UInt64(header >> Self.timeDeltaShift)

            switch typeLen {
            case 1...Self.maxDataTypeLen:
                let eventLength = 4 + Int(typeLen) * 4
                guard eventLength <= remaining else { return stop(.eventOverrunsData(pageOffset: eventStart)) }
                cursor = eventStart + eventLength
                return deliver(payload: eventStart + 4..<cursor, timeDelta: timeDelta)

            case 0:
                guard remaining >= 8 else { return stop(.eventOverrunsData(pageOffset: eventStart)) }
                let lengthWord = Int(words.field(UInt32.self, at: eventStart + 4))
                guard lengthWord >= 4 else { return stop(.invalidEventLength(pageOffset: eventStart)) }
                let eventLength = 4 + lengthWord
                guard eventLength <= remaining else { return stop(.eventOverrunsData(pageOffset: eventStart)) }
                cursor = eventStart + eventLength
                return deliver(payload: eventStart + 8..<cursor, timeDelta: timeDelta)

            case Self.paddingType:
                if timeDelta == 0 {
                    // Null padding: nothing more was written on this page.
                    cursor = dataEnd
                    return nil
                }
                guard remaining >= 8 else { return stop(.eventOverrunsData(pageOffset: eventStart)) }
                let discardedLength = Int(words.field(UInt32.self, at: eventStart + 4))
                let eventLength = 4 + discardedLength
                guard eventLength <= remaining else { return stop(.eventOverrunsData(pageOffset: eventStart)) }
                summary.discardedEventCount += 1
                cursor = eventStart + eventLength

            case Self.timeExtendType:
                guard remaining >= 8 else { return stop(.eventOverrunsData(pageOffset: eventStart)) }
                let upperBits = UInt64(words.field(UInt32.self, at: eventStart + 4))
                // Wrapping: a corrupt page must not trap on overflow.
                runningTime &+= upperBits << Self.timeDeltaBits | timeDelta
                summary.timeExtendCount += 1
                cursor = eventStart + 8

            default:  // Self.timeStampType; type_len has 5 bits, so nothing else is left.
                guard remaining >= 8 else { return stop(.eventOverrunsData(pageOffset: eventStart)) }
                let upperBits = UInt64(words.field(UInt32.self, at: eventStart + 4))
                runningTime = Self.restoreTopBits(of: upperBits << Self.timeDeltaBits | timeDelta, from: runningTime)
                summary.absoluteTimeStampCount += 1
                cursor = eventStart + 8
            }
        }
        return nil
    }

    /// Calls `body(timestamp, payload)` for every data event on the page and
    /// returns the summary. The closure does not escape; payload views are
    /// only valid during the call.
    public static func forEachEvent<E: Error>(
        in bytes: UnsafeRawBufferPointer,
        format: PageHeaderFormat,
        _ body: (_ timestamp: UInt64, _ payload: UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(E) -> FtracePageSummary {
        var page = FtracePage(bytes: bytes, format: format)
        while let event = page.nextEvent() {
            try body(event.timestamp, event.payload)
        }
        return page.summary
    }

    /// The kernel's rb_fix_abs_ts: TIME_STAMP events keep 59 bits, so the top
    /// 5 come from the previous full time, bumped if the low part wrapped.
    static func restoreTopBits(of absolute: UInt64, from previous: UInt64) -> UInt64 {
        let topBits: UInt64 = 0xF8 << 56
        guard previous & topBits != 0 else { return absolute }
        let restored = absolute | previous & topBits
        return restored < previous ? restored &+ (1 << 59) : restored
    }

    private mutating func deliver(payload: Range<Int>, timeDelta: UInt64) -> Event {
        runningTime &+= timeDelta
        summary.dataEventCount += 1
        return Event(timestamp: runningTime, payload: bytes.view(payload))
    }

    private mutating func stop(_ problem: FtracePageProblem) -> Event? {
        if summary.problem == nil { summary.problem = problem }
        cursor = dataEnd
        return nil
    }
}

// MARK: - Common fields

/// The fields every trace event record starts with (struct trace_entry):
/// common_type u16 @0, common_flags u8 @2, common_preempt_count u8 @3,
/// common_pid i32 @4. Fixed by the kernel ABI, so read at fixed offsets.
public struct TraceEventCommonFields: Equatable, Sendable {
    public static let size = 8

    /// The event type id; matches `EventFormat.id`.
    public let eventType: UInt16
    /// TRACE_FLAG_* bits (irqs off, need resched, hardirq, softirq, ...).
    public let flags: UInt8
    public let preemptCount: UInt8
    public let pid: Int32

    public init(eventType: UInt16, flags: UInt8, preemptCount: UInt8, pid: Int32) {
        self.eventType = eventType
        self.flags = flags
        self.preemptCount = preemptCount
        self.pid = pid
    }

    public init(decoding record: UnsafeRawBufferPointer) throws(TraceRecordError) {
        guard record.count >= Self.size else {
            throw .outOfBounds(offset: 0, length: Self.size, recordSize: record.count)
        }
        let words = ByteReader(record, order: .host)
        eventType = words.field(UInt16.self, at: 0)
        flags = words.field(UInt8.self, at: 2)
        preemptCount = words.field(UInt8.self, at: 3)
        pid = words.field(Int32.self, at: 4)
    }
}

// MARK: - Function tracer events

/// One call seen by the function tracer: `ip` called from `parentIP`.
public struct FunctionCall: Equatable, Sendable {
    /// Address in the traced function (its entry, or just past an ftrace call site).
    public let ip: UInt64
    /// Address in the caller the function returns to.
    public let parentIP: UInt64
    public let pid: Int32

    public init(ip: UInt64, parentIP: UInt64, pid: Int32) {
        self.ip = ip
        self.parentIP = parentIP
        self.pid = pid
    }
}

/// Decodes `ftrace/function` records. Field positions come from the event's
/// format file, so 32-bit kernels (4-byte unsigned long) work too.
public struct FunctionEventDecoder: Equatable, Sendable {
    public let eventID: UInt16
    public let ipField: FieldLayout
    public let parentIPField: FieldLayout

    /// The layout of events/ftrace/function/format on x86_64:
    /// ID 1, `unsigned long ip` at 8 (8 bytes), `unsigned long parent_ip` at 16.
    public static let x86_64 = FunctionEventDecoder(
        eventID: 1,
        ipField: FieldLayout(offset: 8, size: 8, isSigned: false, kind: .integer),
        parentIPField: FieldLayout(offset: 16, size: 8, isSigned: false, kind: .integer))

    public init(eventID: UInt16, ipField: FieldLayout, parentIPField: FieldLayout) {
        self.eventID = eventID
        self.ipField = ipField
        self.parentIPField = parentIPField
    }

    public init(format: EventFormat) throws(TraceFormatError) {
        guard let ip = format.layout(of: "ip") else { throw .missingField("ip") }
        guard let parentIP = format.layout(of: "parent_ip") else { throw .missingField("parent_ip") }
        guard ip.kind == .integer else { throw .unexpectedFieldLayout("ip") }
        guard parentIP.kind == .integer else { throw .unexpectedFieldLayout("parent_ip") }
        self.init(eventID: format.id, ipField: ip, parentIPField: parentIP)
    }

    /// Decodes one record; throws `.unexpectedEventType` for other events.
    public func decode(_ record: UnsafeRawBufferPointer) throws(TraceRecordError) -> FunctionCall {
        let common = try TraceEventCommonFields(decoding: record)
        guard common.eventType == eventID else { throw .unexpectedEventType(common.eventType) }
        return FunctionCall(
            ip: try ipField.unsignedInteger(in: record),
            parentIP: try parentIPField.unsignedInteger(in: record),
            pid: common.pid)
    }
}

// MARK: - The function_graph tracer

/// One record of the function_graph tracer: `ftrace/funcgraph_entry` when a
/// traced function is called, `ftrace/funcgraph_exit` when it returns, with
/// its return value when the kernel records it (the `funcgraph-retval`
/// option, Linux 6.5+ with CONFIG_FUNCTION_GRAPH_RETVAL) and how long it ran.
public struct GraphCall: Equatable, Sendable {
    public enum Phase: Equatable, Sendable { case entry, exit }
    public let phase: Phase
    /// The traced function's address (its entry).
    public let function: UInt64
    /// Call depth within the graph (0 for a traced function called from untraced code).
    public let depth: UInt32
    /// The return value register as recorded (exit with funcgraph-retval only).
    public let returnValue: UInt64?
    /// rettime - calltime (exit only): nanoseconds of the kernel's local trace clock.
    public let durationNanoseconds: UInt64?

    public init(phase: Phase, function: UInt64, depth: UInt32, returnValue: UInt64? = nil, durationNanoseconds: UInt64? = nil) {
        self.phase = phase
        self.function = function
        self.depth = depth
        self.returnValue = returnValue
        self.durationNanoseconds = durationNanoseconds
    }

    /// The return value as the function's C type most likely meant it: an
    /// errno when its low 32 bits are -4095...-1 (an `int` returned in a
    /// 64-bit register has undefined upper bits, an `ssize_t` is sign-
    /// extended: both say -19 for ENODEV), else the 64-bit value as signed.
    public var signedReturnValue: Int64? {
        guard let returnValue else { return nil }
        if let errno { return -Int64(errno) }
        return Int64(bitPattern: returnValue)
    }

    /// The errno a failed call returned (19 for -ENODEV), nil otherwise.
    public var errno: Int32? {
        guard let returnValue else { return nil }
        let low = Int32(truncatingIfNeeded: returnValue)
        let upper = returnValue >> 32
        guard low >= -4095, low <= -1, upper == 0 || upper == 0xffff_ffff else { return nil }
        return -low
    }
}

/// Decodes `ftrace/funcgraph_entry` and `ftrace/funcgraph_exit` records.
/// Positions come from the format files: `retval` is present only on
/// kernels built with CONFIG_FUNCTION_GRAPH_RETVAL, which shifts the rest.
public struct GraphEventDecoder: Equatable, Sendable {
    public let eventID: UInt16
    public let phase: GraphCall.Phase
    let functionField: FieldLayout
    let depthField: FieldLayout
    let returnValueField: FieldLayout?
    let callTimeField: FieldLayout?
    let returnTimeField: FieldLayout?

    /// nil for a format that is neither funcgraph_entry nor funcgraph_exit.
    public init?(format: EventFormat) throws(TraceFormatError) {
        switch format.name {
        case "funcgraph_entry": phase = .entry
        case "funcgraph_exit": phase = .exit
        default: return nil
        }
        func integer(_ name: String) throws(TraceFormatError) -> FieldLayout {
            guard let layout = format.layout(of: name) else { throw .missingField(name) }
            guard layout.kind == .integer else { throw .unexpectedFieldLayout(name) }
            return layout
        }
        eventID = format.id
        functionField = try integer("func")
        depthField = try integer("depth")
        if phase == .exit {
            returnValueField = format.layout(of: "retval") == nil ? nil : try integer("retval")
            callTimeField = try integer("calltime")
            returnTimeField = try integer("rettime")
        } else {
            returnValueField = nil
            callTimeField = nil
            returnTimeField = nil
        }
    }

    public func decode(_ record: UnsafeRawBufferPointer) throws(TraceRecordError) -> GraphCall {
        let common = try TraceEventCommonFields(decoding: record)
        guard common.eventType == eventID else { throw .unexpectedEventType(common.eventType) }
        var duration: UInt64?
        if let callTimeField, let returnTimeField {
            let called = try callTimeField.unsignedInteger(in: record)
            let returned = try returnTimeField.unsignedInteger(in: record)
            duration = returned >= called ? returned - called : nil // a clock that went back says nothing
        }
        return GraphCall(
            phase: phase,
            function: try functionField.unsignedInteger(in: record),
            depth: UInt32(truncatingIfNeeded: try depthField.unsignedInteger(in: record)),
            returnValue: try returnValueField?.unsignedInteger(in: record),
            durationNanoseconds: duration)
    }
}

// MARK: - Kernel symbols

/// Kernel text symbols from /proc/kallsyms, sorted for address lookup.
/// Built once (allocates); `lookup` is a binary search that does not.
public struct KernelSymbolTable: Sendable {
    public struct Match: Equatable, Sendable {
        public let name: String
        /// The module in brackets after the name, nil for the core kernel.
        public let module: String?
        public let symbolAddress: UInt64
        /// Bytes from the symbol's start; ftrace prints this as name+0x...
        public let offset: UInt64

        public init(name: String, module: String?, symbolAddress: UInt64, offset: UInt64) {
            self.name = name
            self.module = module
            self.symbolAddress = symbolAddress
            self.offset = offset
        }
    }

    /// Sorted ascending; parallel to `names` and `modules`.
    private let addresses: [UInt64]
    private let names: [String]
    private let modules: [String?]

    /// Lines that were not `ADDRESS TYPE NAME [\t[MODULE]]`.
    public let malformedLineCount: Int
    /// True when symbols were listed but every address was zero: kallsyms is
    /// hidden from this reader (kptr_restrict, or not root), so nothing resolves.
    public let addressesHidden: Bool

    public var count: Int { addresses.count }

    /// Parses /proc/kallsyms text. With `textSymbolsOnly` (the default) only
    /// code symbols (types t, T, w, W) are kept, since trace addresses are
    /// code addresses and data symbols would only produce wrong matches.
    public init(parsingKallsyms text: UnsafeRawBufferPointer, textSymbolsOnly: Bool = true) {
        var entries: [(address: UInt64, line: Int, name: String, module: String?)] = []
        var malformed = 0
        var zeroAddressCount = 0
        var moduleNames: [String: String] = [:]  // interned: one String per module
        var lineNumber = 0

        text.forEachLine { (line) throws(Never) in
            lineNumber += 1
            let content = text.trimmed(line)
            guard !content.isEmpty else { return }
            guard let parsed = Self.parseLine(text, content) else {
                malformed += 1
                return
            }
            let type = text[parsed.type]
            if textSymbolsOnly, !(type | 0x20 == 0x74 || type | 0x20 == 0x77) { return }  // t/T, w/W
            if parsed.address == 0 {
                zeroAddressCount += 1
                return
            }
            var module: String?
            if let moduleRange = parsed.module {
                let moduleName = text.string(moduleRange)
                if let interned = moduleNames[moduleName] {
                    module = interned
                } else {
                    moduleNames[moduleName] = moduleName
                    module = moduleName
                }
            }
            entries.append((parsed.address, lineNumber, text.string(parsed.name), module))
        }

        // File order breaks ties, so an address with aliases resolves to the
        // first listed name, as the kernel's own kallsyms_lookup does.
        entries.sort { ($0.address, $0.line) < ($1.address, $1.line) }
        addresses = entries.map(\.address)
        names = entries.map(\.name)
        modules = entries.map(\.module)
        malformedLineCount = malformed
        addressesHidden = entries.isEmpty && zeroAddressCount > 0
    }

    public init(parsingKallsyms text: [UInt8], textSymbolsOnly: Bool = true) {
        self = text.withUnsafeBytes { KernelSymbolTable(parsingKallsyms: $0, textSymbolsOnly: textSymbolsOnly) }
    }

    /// The symbol containing `address`: the last one starting at or below it.
    /// Nil below the first symbol. kallsyms has no sizes, so an address past
    /// the end of the last symbol still matches it, with a large offset.
    public func lookup(_ address: UInt64) -> Match? {
        var low = 0
        var high = addresses.count  // first index whose address is > `address`
        while low < high {
            let middle = low + (high - low) / 2
            if addresses[middle] <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return nil }
        var index = low - 1
        let symbolAddress = addresses[index]
        while index > 0, addresses[index - 1] == symbolAddress { index -= 1 }  // first alias
        return Match(
            name: names[index], module: modules[index],
            symbolAddress: symbolAddress, offset: address - symbolAddress)
    }

    /// `ffffffff81000000 T _text` or `ffffffffc0201000 t name\t[module]`.
    private static func parseLine(
        _ text: UnsafeRawBufferPointer, _ line: Range<Int>
    ) -> (address: UInt64, type: Int, name: Range<Int>, module: Range<Int>?)? {
        guard let addressEnd = text.firstIndex(of: ASCII.space, in: line),
              let address = text.hexadecimal(line.lowerBound..<addressEnd)
        else { return nil }
        let type = addressEnd + 1
        let nameStart = type + 2
        guard nameStart < line.upperBound, text[type + 1] == ASCII.space else { return nil }
        var nameEnd = nameStart
        while nameEnd < line.upperBound, !ASCII.isWhitespace(text[nameEnd]) { nameEnd += 1 }
        let rest = text.trimmed(nameEnd..<line.upperBound)
        var module: Range<Int>?
        if !rest.isEmpty {
            guard rest.count >= 2, text[rest.lowerBound] == ASCII.openBracket,
                  text[rest.upperBound - 1] == ASCII.closeBracket
            else { return nil }
            module = rest.lowerBound + 1..<rest.upperBound - 1
        }
        return (address, type, nameStart..<nameEnd, module)
    }
}
