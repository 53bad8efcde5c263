// libFuzzer target for the /dev/kmsg record parser (Kmsg.swift): the input is
// parsed as a record ("PRI,SEQ,TS,FLAG;text\n KEY=VALUE\n...") and as the
// console prefix ("<N>"), and every escaped part is unescaped.
// Built and run by scripts/fuzz (target kmsg).
import StoretraceDecode

private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    _ = try? KmsgPrefix(parsing: input)
    // An output as large as the input always suffices (the documented contract).
    let out = UnsafeMutableRawBufferPointer(rebasing: output[..<min(size, output.count)])
    if size <= output.count {
        precondition(KmsgRecord.unescape(input, into: out) != nil, "unescape needed more room than its input")
    } else {
        _ = KmsgRecord.unescape(input, into: out)
    }
    guard let record = try? KmsgRecord(parsing: input) else { return 0 }
    _ = KmsgRecord.unescape(record.message, into: output)
    if let subsystem = record.subsystem { _ = KmsgRecord.unescape(subsystem, into: output) }
    if let device = record.device { _ = KmsgRecord.unescape(device, into: output) }
    record.forEachProperty { (key, value) throws(Never) in
        precondition(key.count + value.count <= size, "a property longer than the record")
        _ = KmsgRecord.unescape(value, into: output)
    }
    return 0
}
