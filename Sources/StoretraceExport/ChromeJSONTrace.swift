import StoretraceDecode
import StoretraceRender
import StoretraceSession

/// The Trace Event Format (the JSON that chrome://tracing and older viewers
/// read; Perfetto reads it too): `{"traceEvents":[...]}`, written event by
/// event. A slice is a complete event (`ph` X with `dur`), an instant `ph`
/// i, a counter value `ph` C, track names metadata (`ph` M), flows `ph` s
/// and f. Times are microseconds with three decimals (nanoseconds exact).
/// The node's own tracks (device events, kernel log, findings, counters)
/// are threads of a process "node" whose pid no kernel gives (2^30).
public final class ChromeJSONTraceWriter: TimelineWriter {
    public let sink: OutputSink
    private var first = true
    /// Named and counter tracks: their thread, or their counter name.
    private var named: [UInt64: (tid: UInt32, name: String)] = [:]
    static let nodePID: UInt32 = 1 << 30

    public init(sink: OutputSink) { self.sink = sink }

    private func record(_ body: (inout OutputBuffer) -> Void) {
        sink.withBuffer { out in
            out.append(first ? "\n" : ",\n")
            first = false
            body(&out)
        }
    }

    public func begin(clock: ClockOffset, startMonotonic: UInt64) {
        sink.withBuffer { out in
            out.append("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"clock\":\"CLOCK_MONOTONIC\",\"realtime_minus_monotonic_ns\":")
            out.appendDecimal(clock.realtimeMinusMonotonic)
            out.append("},\"traceEvents\":[")
        }
        metadata("process_name", pid: Self.nodePID, tid: Self.nodePID, value: "node")
    }

    private func metadata(_ kind: StaticString, pid: UInt32, tid: UInt32, value: String) {
        record { out in
            out.append("{\"ph\":\"M\",\"name\":\"")
            out.append(kind)
            out.append("\",\"pid\":")
            out.appendDecimal(pid)
            out.append(",\"tid\":")
            out.appendDecimal(tid)
            out.append(",\"ts\":0,\"args\":{\"name\":")
            out.appendJSONString(string: value)
            out.append("}}")
        }
    }

    public func describe(_ track: Track) {
        switch track.kind {
        case .process(let pid, let name):
            metadata("process_name", pid: pid, tid: pid, value: name)
        case .thread(let pid, let tid, let name):
            metadata("thread_name", pid: pid, tid: tid, value: name)
        case .named(let name):
            let tid = Self.nodePID + UInt32(truncatingIfNeeded: named.count + 1)
            named[track.uuid] = (tid, name)
            metadata("thread_name", pid: Self.nodePID, tid: tid, value: name)
        case .counter(let name, let unit):
            named[track.uuid] = (Self.nodePID, name + " (" + unit + ")")
        }
    }

    /// pid and tid of a track.
    private func task(_ uuid: UInt64) -> (pid: UInt32, tid: UInt32) {
        if let task = TrackIDs.task(of: uuid) { return task }
        return (Self.nodePID, named[uuid]?.tid ?? Self.nodePID)
    }

    private func head(_ phase: StaticString, _ uuid: UInt64, _ timestamp: UInt64, into out: inout OutputBuffer) {
        let (pid, tid) = task(uuid)
        out.append("{\"ph\":\"")
        out.append(phase)
        out.append("\",\"pid\":")
        out.appendDecimal(pid)
        out.append(",\"tid\":")
        out.appendDecimal(tid)
        out.append(",\"ts\":")
        Self.appendMicroseconds(timestamp, into: &out)
    }

    /// Nanoseconds as microseconds with three decimals: 1234567 → 1234.567.
    static func appendMicroseconds(_ nanoseconds: UInt64, into out: inout OutputBuffer) {
        out.appendDecimal(nanoseconds / 1000)
        out.append(UInt8(ascii: "."))
        out.appendDecimal(Int(nanoseconds % 1000), width: 3)
    }

    public func event(_ event: TimelineEvent) {
        record { out in
            if let duration = event.duration {
                head("X", event.track, event.timestamp, into: &out)
                out.append(",\"dur\":")
                Self.appendMicroseconds(duration, into: &out)
            } else {
                head("i", event.track, event.timestamp, into: &out)
                out.append(TrackIDs.isProcess(event.track) ? ",\"s\":\"p\"" : ",\"s\":\"t\"")
            }
            out.append(",\"name\":")
            out.appendJSONString(string: event.name)
            out.append(",\"cat\":")
            out.appendJSONString(string: event.categories.joined(separator: ","))
            out.append(",\"args\":")
            Self.appendObject(event.annotations, into: &out)
            out.append(UInt8(ascii: "}"))
        }
        // Flow steps bind to the slice or instant at their time on their thread.
        for (ids, phase) in [(event.flowsOut, "s"), (event.flowsIn, "f")] as [([UInt64], StaticString)] {
            for id in ids {
                record { out in
                    head(phase, event.track, event.timestamp, into: &out)
                    out.append(",\"name\":\"explained by\",\"cat\":\"flow\",\"bp\":\"e\",\"id\":\"0x")
                    out.appendHex(id, prefix: false)
                    out.append("\"}")
                }
            }
        }
    }

    public func counter(track: UInt64, timestamp: UInt64, value: Double) {
        record { out in
            head("C", track, timestamp, into: &out)
            out.append(",\"name\":")
            out.appendJSONString(string: named[track]?.name ?? "counter")
            out.append(",\"args\":{\"value\":")
            Self.appendNumber(value, into: &out)
            out.append("}}")
        }
    }

    public func end() {
        sink.withBuffer { $0.append("\n]}\n") }
        sink.flush()
    }

    static func appendNumber(_ value: Double, into out: inout OutputBuffer) {
        guard value.isFinite else { return out.append("null") }
        if value == value.rounded(), abs(value) < 1e15 {
            out.appendDecimal(Int64(value))
        } else {
            out.append(string: String(value))
        }
    }

    static func appendObject(_ annotations: [Annotation], into out: inout OutputBuffer) {
        out.append(UInt8(ascii: "{"))
        for (index, annotation) in annotations.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.appendJSONString(string: annotation.name)
            out.append(UInt8(ascii: ":"))
            appendValue(annotation.value, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    static func appendValue(_ value: Annotation.Value, into out: inout OutputBuffer) {
        switch value {
        case .string(let text): out.appendJSONString(string: text)
        case .int(let number): out.appendDecimal(number)
        case .uint(let number): out.appendDecimal(number)
        case .double(let number): appendNumber(number, into: &out)
        case .bool(let flag): out.append(flag ? "true" : "false")
        case .dict(let entries): appendObject(entries, into: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                appendValue(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }
}
