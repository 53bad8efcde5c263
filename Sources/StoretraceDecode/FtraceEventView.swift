// A generic, allocation-free view of one ftrace record (the payload of a data
// event on a trace_pipe_raw page), driven by the kernel's format files: any
// tracepoint can be shown as `name field=value ...` without code per event,
// and the function tracer's record additionally yields its ip/parent_ip.
//
// Built once per run from the formats of the enabled events (setup time,
// allocates); `view(_:)` and `forEachField` then only read the record.

public enum FtraceViewError: Error, Equatable, Sendable {
    /// Shorter than the common fields every record starts with.
    case shorterThanCommonFields(Int)
    /// A common_type no loaded format describes (an event enabled by someone
    /// else in the same instance, or a format that failed to parse).
    case unknownEventType(UInt16)
    /// The function tracer's record could not be read (cut short).
    case badFunctionRecord(TraceRecordError)
}

/// The formats of the events one instance can deliver, by common_type id.
public struct FtraceEventCatalog: Sendable {
    /// A class: every view of the event's records holds it by one reference
    /// (an `Event` stays small and copying a view retains once).
    final class Entry: Sendable {
        let format: EventFormat
        /// Where the system is known (events/SYSTEM/NAME), e.g. "block".
        let system: String
        /// The `comm` field, for events that carry one (sched_*, many others).
        let comm: FieldLayout?
        /// Present for the function tracer's event (ftrace:function).
        let function: FunctionEventDecoder?
        /// Present for the function_graph tracer's (ftrace:funcgraph_entry, funcgraph_exit).
        let graph: GraphEventDecoder?
        /// Parallel to format.fields: dynamic (__data_loc/__rel_loc) fields
        /// holding char data, shown as text; other dynamic arrays are bytes.
        let dynamicText: [Bool]
        /// The first field of type dev_t (block:*, ext4:*): a kernel device number.
        let device: FieldLayout?

        init(format: EventFormat, system: String, comm: FieldLayout?, function: FunctionEventDecoder?,
             graph: GraphEventDecoder?, dynamicText: [Bool], device: FieldLayout?) {
            self.format = format
            self.system = system
            self.comm = comm
            self.function = function
            self.graph = graph
            self.dynamicText = dynamicText
            self.device = device
        }
    }

    private let entries: [UInt16: Entry]

    /// `formats` pairs each format with its system (the directory under
    /// events/; "ftrace" for the function tracer's event).
    public init(formats: [(system: String, format: EventFormat)]) {
        var entries: [UInt16: Entry] = [:]
        for (system, format) in formats {
            let comm = format.fields.first { $0.name == "comm" && !$0.isCommon }?.layout
            let function = system == "ftrace" && format.name == "function"
                ? try? FunctionEventDecoder(format: format) : nil
            let graph = system == "ftrace" ? (try? GraphEventDecoder(format: format)) ?? nil : nil
            let dynamicText = format.fields.map { $0.type.contains("char") }
            let device = format.fields.first { !$0.isCommon && KernelDeviceNumber.isDeviceNumberType($0.type) && $0.kind == .integer }?.layout
            entries[format.id] = Entry(
                format: format, system: system, comm: comm, function: function, graph: graph, dynamicText: dynamicText,
                device: device)
        }
        self.entries = entries
    }

    public var formats: [UInt16: EventFormat] { entries.mapValues(\.format) }

    /// Every event it decodes, by id: its system ("block", "ftrace") and name.
    public var events: [(system: String, name: String)] {
        entries.sorted { $0.key < $1.key }.map { ($0.value.system, $0.value.format.name) }
    }

    public func format(id: UInt16) -> EventFormat? { entries[id]?.format }

    /// Decodes the common fields and finds the record's format. The view
    /// points into `payload`.
    public func view(_ payload: UnsafeRawBufferPointer) throws(FtraceViewError) -> FtraceEventView {
        let common: TraceEventCommonFields
        do {
            common = try TraceEventCommonFields(decoding: payload)
        } catch {
            throw .shorterThanCommonFields(payload.count)
        }
        guard let entry = entries[common.eventType] else { throw .unknownEventType(common.eventType) }
        // A function tracer's record is checked here, once; the view decodes
        // its call again (a few loads) when asked.
        do {
            if let function = entry.function { _ = try function.decode(payload) }
            if let graph = entry.graph { _ = try graph.decode(payload) }
        } catch {
            throw .badFunctionRecord(error)
        }
        return FtraceEventView(entry: entry, common: common, payload: payload)
    }
}

/// One ftrace record, decoded lazily in place.
public struct FtraceEventView {
    let entry: FtraceEventCatalog.Entry
    public let common: TraceEventCommonFields
    /// The whole record, common fields first. Valid only while the page is.
    public let payload: UnsafeRawBufferPointer

    public var format: EventFormat { entry.format }
    public var system: String { entry.system }
    var commField: FieldLayout? { entry.comm }
    var dynamicText: [Bool] { entry.dynamicText }
    /// The function tracer's call (ip, parent_ip), nil for tracepoints.
    public var functionCall: FunctionCall? { entry.function.flatMap { try? $0.decode(payload) } }
    /// The function_graph tracer's entry or return, nil for everything else.
    public var graphCall: GraphCall? { entry.graph.flatMap { try? $0.decode(payload) } }
    /// A record of either function tracer (the `function` event type).
    public var isFunctionEvent: Bool { entry.function != nil || entry.graph != nil }
    /// The event's first dev_t field, if it has one.
    public var deviceField: FieldLayout? { entry.device }

    /// The device number the event's dev_t field holds (kernel encoding,
    /// `KernelDeviceNumber`); nil without one or if it does not fit.
    public var deviceNumber: (major: UInt32, minor: UInt32)? {
        guard let deviceField, let value = try? deviceField.unsignedInteger(in: payload) else { return nil }
        return KernelDeviceNumber.decode(value)
    }

    /// Whether `field` is the one `deviceNumber` reads.
    @inline(__always)
    public func isDeviceField(_ field: FieldFormat) -> Bool {
        deviceField.map { $0.offset == field.offset && !field.isCommon } ?? false
    }

    /// What the CPU was doing when the event was recorded: a completion in
    /// softirq or hardirq context ran on whatever thread was interrupted
    /// (often ksoftirqd), which is no actor of the event.
    public var context: TraceContext { TraceContext(commonFlags: common.flags) }

    /// The event's name ("block_rq_error", "function").
    public var name: String { format.name }
    /// The thread that was running when the event fired (common_pid).
    public var pid: Int32 { common.pid }

    /// The record's own `comm` field, for events that have one. The
    /// function tracer's record has none: resolve its pid instead.
    public var comm: UnsafeRawBufferPointer? {
        guard let commField else { return nil }
        return try? commField.string(in: payload)
    }

    /// Calls `body` for each of the event's own fields (and the common ones
    /// too if `includeCommon`), in format order, with its value read as its
    /// kind says. A field that does not fit the record comes as `.unreadable`
    /// so a renderer can still show the rest.
    public func forEachField<E: Error>(
        includeCommon: Bool = false,
        _ body: (_ field: FieldFormat, _ value: FtraceFieldValue) throws(E) -> Void
    ) throws(E) {
        for (index, field) in format.fields.enumerated() where includeCommon || !field.isCommon {
            try body(field, FtraceFieldValue(field.layout, dynamicIsText: entry.dynamicText[index], in: payload))
        }
    }
}

/// A field's value, viewed in place.
public enum FtraceFieldValue {
    case signed(Int64)
    case unsigned(UInt64)
    /// An address (pointer field): print it in hex.
    case pointer(UInt64)
    /// Text up to its first NUL: a char array or a __data_loc/__rel_loc string.
    case string(UnsafeRawBufferPointer)
    /// Any other array or struct, as raw bytes.
    case bytes(UnsafeRawBufferPointer)
    case unreadable(TraceRecordError)

    /// `dynamicIsText`: whether a __data_loc/__rel_loc field holds char data
    /// (its type says so: `__data_loc char[]`).
    public init(_ layout: FieldLayout, dynamicIsText: Bool = true, in record: UnsafeRawBufferPointer) {
        do {
            switch layout.kind {
            case .integer:
                self = layout.isSigned ? .signed(try layout.integer(in: record)) : .unsigned(try layout.unsignedInteger(in: record))
            case .pointer:
                self = .pointer(try layout.unsignedInteger(in: record))
            case .charArray:
                self = .string(try layout.string(in: record))
            case .dataLoc, .relLoc:
                // Only char data is text; u8[]/u32[] dynamic arrays are bytes.
                self = dynamicIsText ? .string(try layout.string(in: record)) : .bytes(try layout.bytes(in: record))
            case .array, .other:
                self = .bytes(try layout.bytes(in: record))
            }
        } catch {
            self = .unreadable(error)
        }
    }
}

extension KernelSymbolTable {
    /// `name+0xoff` (with ` [module]` for module code), or the bare address in
    /// hex when no symbol covers it, the way ftrace prints %pS.
    public func describe(_ address: UInt64) -> String {
        guard let match = lookup(address) else { return "0x" + String(address, radix: 16) }
        var text = match.offset == 0 ? match.name : match.name + "+0x" + String(match.offset, radix: 16)
        if let module = match.module { text += " [\(module)]" }
        return text
    }
}
