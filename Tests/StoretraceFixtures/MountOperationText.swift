import StoretraceAnalyze
import StoretraceDecode
import StoretraceRender

/// The text of a `mount_op` line after "mount_op: ", without the newline:
/// what tests compare (the columns before it are the syscall line's).
public func mountOperationDescription(_ operation: MountOperation) -> String {
    var out = OutputBuffer()
    TextRenderer(color: false, utcOffsetSeconds: 0, clock: ClockOffset(realtimeMinusMonotonic: 0))
        .renderMountOperation(operation, into: &out)
    let line = String(decoding: out.bytes, as: UTF8.self)
    let marker = "mount_op: "
    guard let start = line.utf8.indices.first(where: { line.utf8[$0...].starts(with: marker.utf8) }) else { return line }
    return String(line[line.utf8.index(start, offsetBy: marker.utf8.count)...].dropLast())
}
