import StoretraceAnalyze
import StoretraceDecode

/// `mount_health` lines: a mount whose device failed or went away, the first
/// time each cause happens to it.
///
///     14:07:31.130000  [mount_health]      /mnt/x in host: io_error on loop0 (7:0), 1 I/O error and 0 fs errors since 14:07:31.125000: I/O error, dev loop0, sector 8742 op 0x0:(READ) ...
extension TextRenderer {
    public func renderMountHealth(_ health: MountHealth, into out: inout OutputBuffer) {
        appendKernelPrefix(monotonic: health.timestamp, into: &out) { $0.append("[mount_health]") }
        paint(.red, into: &out)
        out.appendPrintable(string: health.mount.mountPoint)
        paint(.reset, into: &out)
        out.append(" in ")
        out.appendPrintable(string: DeviceAnnotations.namespaceName(health.mount))
        out.append(": ")
        paint(.bold, into: &out)
        out.append(string: health.cause.name)
        paint(.reset, into: &out)
        out.append(" on ")
        out.appendPrintable(string: health.deviceName)
        out.append(" (")
        out.appendDecimal(health.major)
        out.append(UInt8(ascii: ":"))
        out.appendDecimal(health.minor)
        out.append("), ")
        out.appendDecimal(health.ioErrors)
        out.append(health.ioErrors == 1 ? " I/O error and " : " I/O errors and ")
        out.appendDecimal(health.filesystemErrors)
        out.append(health.filesystemErrors == 1 ? " fs error since " : " fs errors since ")
        out.appendTimeOfDay(epochNanoseconds: clock.wallNanoseconds(monotonic: health.firstProblem), utcOffsetSeconds: utcOffsetSeconds)
        out.append(": ")
        out.appendPrintable(string: health.detail)
        out.append(UInt8(ascii: "\n"))
    }
}

extension JSONRenderer {
    /// docs/events.md, `mount_health`.
    public func renderMountHealth(_ health: MountHealth, into out: inout OutputBuffer) {
        out.append("{\"time\":")
        appendTime(monotonic: health.timestamp, into: &out)
        out.append(",\"type\":\"mount_health\",\"pid\":null,\"tid\":null,\"comm\":null,\"mount\":")
        DeviceAnnotations.appendMountJSON(health.mount, into: &out)
        out.append(",\"device\":{\"name\":")
        out.appendJSONString(string: health.deviceName)
        out.append(",\"major\":")
        out.appendDecimal(health.major)
        out.append(",\"minor\":")
        out.appendDecimal(health.minor)
        out.append("},\"cause\":\"")
        out.append(string: health.cause.name)
        out.append("\",\"causes\":[")
        for (index, cause) in health.causes.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append("\"")
            out.append(string: cause.name)
            out.append("\"")
        }
        out.append("],\"detail\":")
        out.appendJSONString(string: health.detail)
        out.append(",\"first_problem_time\":")
        appendTime(monotonic: health.firstProblem, into: &out)
        out.append(",\"io_errors\":")
        out.appendDecimal(health.ioErrors)
        out.append(",\"fs_errors\":")
        out.appendDecimal(health.filesystemErrors)
        out.append("}\n")
    }
}
