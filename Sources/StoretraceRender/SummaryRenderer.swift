import StoretraceAnalyze
import StoretraceDecode

/// `storetrace summary` and `--summary`: a `StorageSummary` as text (tables,
/// read-ahead periods of a device side by side) or as one JSON object.
public enum SummaryRenderer {
    // MARK: Text

    public static func renderText(_ summary: StorageSummary, clock: ClockOffset, utcOffsetSeconds: Int) -> String {
        let text = TextRenderer(color: false, utcOffsetSeconds: utcOffsetSeconds, clock: clock)
        func time(_ monotonic: UInt64) -> String {
            var out = OutputBuffer(capacity: 32)
            out.appendTimeOfDay(epochNanoseconds: clock.wallNanoseconds(monotonic: monotonic), utcOffsetSeconds: utcOffsetSeconds)
            return String(decoding: out.bytes, as: UTF8.self)
        }
        func latency(_ ns: UInt64?) -> String {
            guard let ns else { return "-" }
            var out = OutputBuffer(capacity: 16)
            text.appendLatency(ns, into: &out)
            return String(decoding: out.bytes, as: UTF8.self)
        }
        func throughput(_ bytes: UInt64, _ ns: UInt64) -> String {
            var out = OutputBuffer(capacity: 16)
            out.appendThroughput(bytes: bytes, nanoseconds: ns)
            return String(decoding: out.bytes, as: UTF8.self)
        }
        func bytesText(_ bytes: [UInt8]) -> String { SnapshotRenderer.printable(String(decoding: bytes, as: UTF8.self)) }

        var out = "summary"
        if let span = summary.span {
            out += ": " + time(span.first) + " to " + time(span.last) + " (" + seconds(span.last - span.first) + ")"
        }
        out += "\n\ncopies by input device and the read_ahead_kb in force (copy_file_range, splice, sendfile)\n"
        let devices = summary.periodsByDevice
        if devices.isEmpty { out += "  none\n" }
        for periods in devices {
            let first = periods[0]
            let name = first.device.map(bytesText) ?? "no block device"
            out += "  \(name) (\(first.major):\(first.minor))\n"
            let header = [""] + periods.map { "read_ahead_kb " + ($0.readAheadKB.map { String($0) } ?? "unknown") }
            var rows: [[String]] = []
            rows.append(["from"] + periods.map { time($0.first) })
            rows.append(["to"] + periods.map { time($0.last) })
            rows.append(["calls"] + periods.map { String($0.calls) })
            rows.append(["moved data"] + periods.map { String($0.latency.count) })
            rows.append(["returned 0"] + periods.map { String($0.empty) })
            rows.append(["failed"] + periods.map { String($0.failed) })
            rows.append(["bytes"] + periods.map { SnapshotRenderer.humanSize($0.bytes) })
            rows.append(["throughput"] + periods.map { throughput($0.bytes, $0.latency.sum) })
            for percent in [50, 90, 99] {
                rows.append(["latency p\(percent)"] + periods.map { latency($0.latency.percentile(percent)) })
            }
            rows.append(["latency max"] + periods.map { latency($0.latency.count > 0 ? $0.latency.max : nil) })
            out += indent(SnapshotRenderer.table(header: header, rows: rows))
            for period in periods where period.latency.count > 0 {
                out += "    latency of the calls that moved data, read_ahead_kb "
                    + (period.readAheadKB.map { String($0) } ?? "unknown") + ":\n"
                out += histogram(period.latency, latency: latency)
            }
        }

        /// A titled table, or "none".
        func section(_ title: String, header: [String], rows: [[String]]) -> String {
            "\n" + title + "\n" + (rows.isEmpty ? "  none\n" : SnapshotRenderer.table(header: header, rows: rows))
        }
        out += section("calls by type", header: ["type", "calls", "failed", "p50", "p99", "errors"],
                       rows: summary.callsByType.map { entry in
            let errnos = entry.errnos.map { "\(errnoName($0.errno)) \($0.count)" }.joined(separator: ", ")
            return [entry.kind.name.description, String(entry.calls), String(entry.failed),
                    latency(entry.latency.percentile(50)), latency(entry.latency.percentile(99)), errnos.isEmpty ? "-" : errnos]
        })
        out += section("slowest calls", header: ["time", "who", "type", "latency", "result", "device"],
                       rows: summary.slowest.map { call in
            let result = call.errno.map { "-1 " + errnoName($0) } ?? String(call.returnValue)
            var device = call.device.map(bytesText) ?? ""
            if let readAhead = call.readAheadKB { device += " read_ahead_kb=\(readAhead)" }
            return [time(call.timestamp), bytesText(call.comm) + "[\(call.pid)]", call.kind.name.description,
                    latency(call.latency), result, device]
        })
        out += section("queue setting changes", header: ["time", "device", "setting", "value"],
                       rows: summary.settingChanges.map { entry in
            let change = entry.change
            let value = change.old.map { bytesText($0) + " -> " + bytesText(change.new) } ?? bytesText(change.new) + " (new disk)"
            return [time(entry.timestamp), bytesText(change.device) + " (\(change.major):\(change.minor))",
                    change.setting.nameText, value]
        })
        if summary.settingChangesLeftOut > 0 { out += "  and \(summary.settingChangesLeftOut) more\n" }

        out += "\nunhealthy mounts\n"
        if let mounts = summary.unhealthyMounts {
            out += mounts.isEmpty ? "  none\n" : mounts.map { "  " + SnapshotRenderer.printable($0) + "\n" }.joined()
        } else {
            out += "  not analyzed by this storetrace\n"
        }
        if summary.copiesLeftOut > 0 {
            out += "\n\(summary.copiesLeftOut) copies left out (more than \(summary.limits.maxPeriods) device and read-ahead periods)\n"
        }
        return out
    }

    /// bcc-style rows, one per power of two from the first bucket used to the last.
    static func histogram(_ histogram: Log2Histogram, latency: (UInt64?) -> String) -> String {
        let rows = histogram.occupied
        let peak = rows.map(\.count).max() ?? 1
        let width = 32
        let cells = rows.map { row -> (String, String) in
            let (lower, upper) = Log2Histogram.range(ofBucket: row.bucket)
            return (latency(lower) + " .. " + latency(upper), String(row.count))
        }
        let rangeWidth = cells.map(\.0.count).max() ?? 0
        let countWidth = cells.map(\.1.count).max() ?? 0
        var out = ""
        for (row, cell) in zip(rows, cells) {
            let stars = row.count == 0 ? 0 : max(1, Int(row.count * UInt64(width) / peak))
            out += "      " + String(repeating: " ", count: rangeWidth - cell.0.count) + cell.0 + "  "
                + String(repeating: " ", count: countWidth - cell.1.count) + cell.1 + " |"
                + String(repeating: "*", count: stars) + String(repeating: " ", count: width - stars) + "|\n"
        }
        return out
    }

    static func indent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n")
    }

    static func errnoName(_ errno: Int32) -> String { ErrnoNames.name(errno).map { "\($0)" } ?? "E\(errno)" }

    static func seconds(_ nanoseconds: UInt64) -> String {
        let tenths = nanoseconds / 100_000_000
        return "\(tenths / 10).\(tenths % 10)s"
    }

    // MARK: JSON

    /// One object: `{"type":"summary","start":...,"copies":[...],"calls":[...],"slowest":[...],"queue_settings":[...],"unhealthy_mounts":null}`
    /// (docs/events.md).
    public static func renderJSON(_ summary: StorageSummary, clock: ClockOffset, into out: inout OutputBuffer) {
        let json = JSONRenderer(clock: clock)
        func time(_ key: StaticString, _ monotonic: UInt64?) {
            json.key(key, &out)
            if let monotonic { json.appendTime(monotonic: monotonic, into: &out) } else { out.append("null") }
        }
        func number(_ key: StaticString, _ value: UInt64?) {
            json.key(key, &out)
            if let value { out.appendDecimal(value) } else { out.append("null") }
        }
        func bytes(_ key: StaticString, _ value: [UInt8]?) {
            json.key(key, &out)
            if let value { value.withUnsafeBytes { out.appendJSONString($0) } } else { out.append("null") }
        }
        func throughput(_ bytes: UInt64, _ ns: UInt64) {
            json.key("mib_per_s", &out)
            if let tenths = Throughput.tenthsOfMebibytesPerSecond(bytes: bytes, nanoseconds: ns) {
                out.appendDecimal(tenths / 10)
                out.append(UInt8(ascii: "."))
                out.appendDecimal(tenths % 10)
            } else {
                out.append("null")
            }
        }
        func histogram(_ key: StaticString, _ histogram: Log2Histogram) {
            json.key(key, &out)
            out.append("{\"count\":")
            out.appendDecimal(histogram.count)
            number("sum_ns", histogram.count > 0 ? histogram.sum : nil)
            number("min_ns", histogram.count > 0 ? histogram.min : nil)
            number("p50_ns", histogram.percentile(50))
            number("p90_ns", histogram.percentile(90))
            number("p99_ns", histogram.percentile(99))
            number("max_ns", histogram.count > 0 ? histogram.max : nil)
            // [lower_ns, count] of each power of two from the first used to the last.
            out.append(",\"log2_buckets\":[")
            for (index, row) in histogram.occupied.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append(UInt8(ascii: "["))
                out.appendDecimal(Log2Histogram.range(ofBucket: row.bucket).lower)
                out.append(UInt8(ascii: ","))
                out.appendDecimal(row.count)
                out.append(UInt8(ascii: "]"))
            }
            out.append("]}")
        }

        out.append("{\"type\":\"summary\"")
        time("start", summary.span?.first)
        time("end", summary.span?.last)
        out.append(",\"copies\":[")
        var firstDevice = true
        for periods in summary.periodsByDevice {
            if !firstDevice { out.append(UInt8(ascii: ",")) }
            firstDevice = false
            let head = periods[0]
            out.append("{\"device\":")
            if let name = head.device { name.withUnsafeBytes { out.appendJSONString($0) } } else { out.append("null") }
            out.append(",\"dev\":\"")
            out.appendDecimal(head.major)
            out.append(UInt8(ascii: ":"))
            out.appendDecimal(head.minor)
            out.append("\",\"periods\":[")
            for (index, period) in periods.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append("{\"read_ahead_kb\":")
                if let readAhead = period.readAheadKB { out.appendDecimal(readAhead) } else { out.append("null") }
                time("first", period.first)
                time("last", period.last)
                number("calls", period.calls)
                number("moved_data", period.latency.count)
                number("returned_zero", period.empty)
                number("failed", period.failed)
                number("bytes", period.bytes)
                throughput(period.bytes, period.latency.sum)
                histogram("latency", period.latency)
                out.append(UInt8(ascii: "}"))
            }
            out.append("]}")
        }
        out.append("],\"calls\":[")
        for (index, entry) in summary.callsByType.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append("{\"type\":\"")
            out.append(entry.kind.name)
            out.append("\"")
            number("calls", entry.calls)
            number("failed", entry.failed)
            out.append(",\"errnos\":{")
            for (at, failure) in entry.errnos.enumerated() {
                if at > 0 { out.append(UInt8(ascii: ",")) }
                json.appendErrno(failure.errno, into: &out)
                out.append(UInt8(ascii: ":"))
                out.appendDecimal(failure.count)
            }
            out.append("}")
            histogram("latency", entry.latency)
            out.append(UInt8(ascii: "}"))
        }
        out.append("],\"slowest\":[")
        for (index, call) in summary.slowest.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append("{\"time\":")
            json.appendTime(monotonic: call.timestamp, into: &out)
            out.append(",\"type\":\"")
            out.append(call.kind.name)
            out.append("\"")
            number("pid", UInt64(call.pid))
            bytes("comm", call.comm)
            number("latency_ns", call.latency)
            out.append(",\"ret\":")
            out.appendDecimal(call.returnValue)
            out.append(",\"errno\":")
            json.appendErrno(call.errno, into: &out)
            bytes("block_device", call.device)
            number("read_ahead_kb", call.readAheadKB)
            out.append(UInt8(ascii: "}"))
        }
        out.append("],\"queue_settings\":[")
        for (index, entry) in summary.settingChanges.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append("{\"time\":")
            json.appendTime(monotonic: entry.timestamp, into: &out)
            json.appendQueueSettingFields(entry.change, into: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append("]")
        number("queue_settings_left_out", summary.settingChangesLeftOut)
        number("copies_left_out", summary.copiesLeftOut)
        // Filled by the mount-health analysis; null: not analyzed.
        out.append(",\"unhealthy_mounts\":")
        if let mounts = summary.unhealthyMounts {
            out.append(UInt8(ascii: "["))
            for (index, mount) in mounts.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.appendJSONString(string: mount)
            }
            out.append(UInt8(ascii: "]"))
        } else {
            out.append("null")
        }
        out.append("}\n")
    }
}
