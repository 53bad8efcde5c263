/// The node an event came from, when a replay merges captures of several
/// nodes (`storetrace replay node-a/*.stcap node-b/*.stcap`). Added to each
/// rendered event after the renderers wrote it, so that no renderer knows
/// about it and one node's output stays byte for byte what it was:
///
/// - text: a column after the time, padded to the longest host name
///   (`14:07:31.123456  node-a  mount[4120] ...`); lines of an event that do
///   not start with a time (the `↳` lines under a failed call) get a blank
///   time and the host, so every line says which node it is about;
/// - JSON: `"host":"node-a"` right after `time`.
public struct HostColumn: Sendable {
    /// The host name, escaped for a terminal and padded, then two spaces.
    let text: [UInt8]
    /// `,"host":"node-a"`.
    let json: [UInt8]
    /// What stands in for the time on a line without one.
    static let blankTime = [UInt8](repeating: UInt8(ascii: " "), count: "14:07:31.123456  ".utf8.count)

    /// `width`: the display width of the longest host name of the replay.
    public init(host: String, width: Int) {
        var out = OutputBuffer(capacity: 256)
        out.appendPrintable(string: host)
        out.pad(since: 0, to: width)
        out.append("  ")
        text = out.bytes
        out.removeAll()
        out.append(",\"host\":")
        out.appendJSONString(string: host)
        json = out.bytes
    }

    /// The display width of `host` in the text column (escaped as shown).
    public static func width(of host: String) -> Int {
        var out = OutputBuffer(capacity: 256)
        out.appendPrintable(string: host)
        return out.displayWidth(since: 0)
    }

    /// Adds the host to the JSON object rendered since `start`: after the
    /// value of its first key (`time`; every event starts with it).
    public func insertJSON(since start: Int, into out: inout OutputBuffer) {
        var at = start + 1 // after "{"
        let prefix: StaticString = "{\"time\":\""
        if out.count - start > prefix.utf8CodeUnitCount, matches(prefix, at: start, in: out) {
            var index = start + prefix.utf8CodeUnitCount
            while index < out.count, out[index] != UInt8(ascii: "\"") { index += 1 }
            at = min(index + 1, out.count)
            json.withUnsafeBytes { out.insert(bytes: $0, at: at) }
        } else {
            // Not a time-first object: the host leads.
            var leading = Array(json.dropFirst())
            leading.append(UInt8(ascii: ","))
            leading.withUnsafeBytes { out.insert(bytes: $0, at: at) }
        }
    }

    /// Adds the host column to every line rendered since `start`.
    public func insertText(since start: Int, into out: inout OutputBuffer) {
        var lineStart = start
        while lineStart < out.count {
            if startsWithTime(at: lineStart, in: out) {
                // After the time and the two spaces that end its column.
                var index = lineStart
                while index + 1 < out.count, !(out[index] == UInt8(ascii: " ") && out[index + 1] == UInt8(ascii: " ")) {
                    index += 1
                }
                let at = min(index + 2, out.count)
                text.withUnsafeBytes { out.insert(bytes: $0, at: at) }
            } else {
                text.withUnsafeBytes { out.insert(bytes: $0, at: lineStart) }
                Self.blankTime.withUnsafeBytes { out.insert(bytes: $0, at: lineStart) }
            }
            while lineStart < out.count, out[lineStart] != UInt8(ascii: "\n") { lineStart += 1 }
            lineStart += 1
        }
    }

    /// A time column: a digit, or the color escape before it.
    private func startsWithTime(at index: Int, in out: borrowing OutputBuffer) -> Bool {
        let byte = out[index]
        return (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == 0x1B
    }

    private func matches(_ literal: StaticString, at index: Int, in out: borrowing OutputBuffer) -> Bool {
        let bytes = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        for offset in 0..<bytes.count where out[index + offset] != bytes[offset] { return false }
        return true
    }
}
