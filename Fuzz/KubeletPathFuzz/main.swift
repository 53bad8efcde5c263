// libFuzzer target for the path decoders (KubeletPath.swift, and a uevent's
// devpath read for its PCI parent in Uevent.swift): the input is one path.
// Built and run by scripts/fuzz (target paths).
import StoretraceDecode

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    if let path = KubeletPath(input) {
        // Every view lies inside the input.
        for view in [path.podUID, path.volume, path.csiDriver, path.plugin] {
            guard let view else { continue }
            let start = view.baseAddress! - input.baseAddress!
            precondition(start >= 0 && start + view.count <= size && !view.isEmpty, "view outside the path")
        }
    }
    // The same bytes as a uevent's devpath: its PCI parent lies inside it.
    var message = Array("add@/x\0ACTION=add\0DEVPATH=".utf8)
    message.append(contentsOf: input.prefix { $0 != 0 })
    message.append(contentsOf: Array("\0SUBSYSTEM=block\0".utf8))
    message.withUnsafeBytes { bytes in
        guard let parsed = try? UeventMessage(parsing: bytes), let parent = parsed.pciParent else { return }
        precondition(parent.count == 12, "a PCI address is 12 bytes")
    }
    return 0
}
