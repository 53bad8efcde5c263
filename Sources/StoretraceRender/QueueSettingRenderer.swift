import StoretraceDecode

/// The `queue_setting` event, on the timeline with the kernel-side events:
///
///     14:07:33.501234  [queue]                                   queue_setting loop0 7:0 read_ahead_kb 4 -> 128
///     {"time":"...","type":"queue_setting","pid":null,"tid":null,"comm":null,"device":"loop0","dev":"7:0","setting":"read_ahead_kb","old":4,"new":128}
///
/// A disk that appeared while tracing has no old value (`null`; text: "(new disk)").
extension TextRenderer {
    public func renderQueueSetting(_ change: QueueSettingChange, monotonic: UInt64, into out: inout OutputBuffer) {
        appendKernelPrefix(monotonic: monotonic, into: &out) { $0.append("[queue]") }
        appendQueueSettingBody(change, into: &out)
        out.append(UInt8(ascii: "\n"))
    }

    /// "queue_setting loop0 7:0 read_ahead_kb 4 -> 128": the line after the columns.
    func appendQueueSettingBody(_ change: QueueSettingChange, into out: inout OutputBuffer) {
        paint(.bold, into: &out)
        out.append("queue_setting")
        paint(.reset, into: &out)
        out.append(UInt8(ascii: " "))
        change.device.withUnsafeBytes { out.appendPrintable($0) }
        out.append(UInt8(ascii: " "))
        out.appendDecimal(change.major)
        out.append(UInt8(ascii: ":"))
        out.appendDecimal(change.minor)
        out.append(UInt8(ascii: " "))
        out.append(change.setting.name)
        out.append(UInt8(ascii: " "))
        if let old = change.old {
            old.withUnsafeBytes { out.appendPrintable($0) }
            out.append(" -> ")
            paint(.yellow, into: &out)
            change.new.withUnsafeBytes { out.appendPrintable($0) }
            paint(.reset, into: &out)
        } else {
            change.new.withUnsafeBytes { out.appendPrintable($0) }
            out.append(" (new disk)")
        }
    }
}

extension JSONRenderer {
    public func renderQueueSetting(_ change: QueueSettingChange, monotonic: UInt64, into out: inout OutputBuffer) {
        out.append("{\"time\":")
        appendTime(monotonic: monotonic, into: &out)
        out.append(",\"type\":\"queue_setting\",\"pid\":null,\"tid\":null,\"comm\":null")
        appendQueueSettingFields(change, into: &out)
        out.append("}\n")
    }

    /// `,"device":"loop0","dev":"7:0","setting":"read_ahead_kb","old":4,"new":128`
    /// (the event's own keys; `summary` lists changes with them too).
    func appendQueueSettingFields(_ change: QueueSettingChange, into out: inout OutputBuffer) {
        out.append(",\"device\":")
        change.device.withUnsafeBytes { out.appendJSONString($0) }
        out.append(",\"dev\":\"")
        out.appendDecimal(change.major)
        out.append(UInt8(ascii: ":"))
        out.appendDecimal(change.minor)
        out.append("\",\"setting\":\"")
        out.append(change.setting.name)
        out.append("\",\"old\":")
        if let old = change.old { Self.appendSettingValue(old, change.setting, into: &out) } else { out.append("null") }
        out.append(",\"new\":")
        Self.appendSettingValue(change.new, change.setting, into: &out)
    }

    /// A number for the numeric settings (a string if the kernel wrote something else).
    static func appendSettingValue(_ value: [UInt8], _ setting: QueueSetting, into out: inout OutputBuffer) {
        if setting.isNumeric, let number = QueueSettingChange.number(value) {
            out.appendDecimal(number)
        } else {
            value.withUnsafeBytes { out.appendJSONString($0) }
        }
    }
}
