// libFuzzer target for the uevent message parser (Uevent.swift): the input is
// one netlink message ("ACTION@DEVPATH\0KEY=VALUE\0...").
// Built and run by scripts/fuzz (target uevent).
import StoretraceDecode

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let message = try? UeventMessage(parsing: input) else { return 0 }
    var total = 0
    message.forEachProperty { (key, value) throws(Never) in
        total += key.count + value.count
    }
    precondition(total <= size, "properties longer than the message")
    _ = message.value(forKey: "SEQNUM")
    _ = message.value(forKey: "DEVNAME")
    return 0
}
