import StoretraceDecode
import StoretraceRender

extension Annotation {
    /// The members of an event's JSON line (docs/events.md) as annotations,
    /// nested as they are there: every field an event has in `--json` is
    /// on its slice or instant, with the same name and value, from the one
    /// renderer of them. `time` is left out (the event's place on the
    /// timeline says it) and so are nulls and empty arrays and objects (Perfetto has no
    /// null, and an annotation without a value reads as one). Strings
    /// are escaped as for a terminal (`escapedForTerminal`).
    public static func fields(ofJSONLine line: [UInt8]) -> [Annotation] {
        guard let value = try? JSONValue.parse(line), case .object(let members) = value else {
            return [Annotation("json", .string(escapedForTerminal(String(decoding: line, as: UTF8.self))))]
        }
        return members.compactMap { member in
            guard member.key != "time" else { return nil }
            return annotation(member.key, member.value)
        }
    }

    static func annotation(_ name: String, _ value: JSONValue) -> Annotation? {
        self.value(value).map { Annotation(escapedForTerminal(name), $0) }
    }

    static func value(_ value: JSONValue) -> Value? {
        switch value {
        case .null: return nil
        case .bool(let flag): return .bool(flag)
        case .number(let text):
            if let number = Int64(text) { return .int(number) }
            if let number = UInt64(text) { return .uint(number) }
            return Double(text).map(Value.double)
        case .string(let text): return .string(escapedForTerminal(text))
        case .array(let elements):
            let values = elements.compactMap(self.value)
            return values.isEmpty ? nil : .array(values)
        case .object(let members):
            let entries = members.compactMap { annotation($0.key, $0.value) }
            return entries.isEmpty ? nil : .dict(entries)
        }
    }
}
