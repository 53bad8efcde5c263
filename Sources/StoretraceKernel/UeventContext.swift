import Glibc
import StoretraceDecode

/// What a uevent does not say but sysfs says when it arrives: the file
/// behind a loop device (attached or detached), and the PCI function a
/// device sits under with its driver. Appended to the message as
/// `STORETRACE_*` properties (`UeventContextKey`) by `UeventSource`, so the
/// capture holds what was read then and `replay` shows the same.
///
/// It runs inside the uevent drain, which allocates nothing: paths are
/// built and files read in buffers made once (hence not SnapshotFileReader,
/// whose paths are Strings).
struct UeventContext {
    private var path = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
    private var data = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)

    /// Loop disks on add and change (attach and detach send change); devices
    /// under a PCI function on add, remove, bind and unbind. PCI functions'
    /// own events already carry PCI_SLOT_NAME and DRIVER.
    static func wanted(_ message: UeventMessage) -> Bool {
        if message.isLoopDisk { return message.action == .add || message.action == .change }
        switch message.action {
        case .add, .remove, .bind, .unbind: return message.pciSlotName == nil && message.pciParent != nil
        default: return false
        }
    }

    mutating func append(for message: UeventMessage, to out: inout [UInt8]) {
        if message.isLoopDisk, let name = message.devname { // "loop" and digits: safe in a path
            if let count = readFile("/sys/block/", name, "/loop/backing_file") {
                property(UeventContextKey.loopBackingFile, count, to: &out)
                if let count = readFile("/sys/block/", name, "/loop/offset") { property(UeventContextKey.loopOffset, count, to: &out) }
            } else {
                property(UeventContextKey.loopBackingFile, 0, to: &out)
            }
        }
        if let slot = message.pciParent { // hex, ':' and '.' only
            data.withUnsafeMutableBytes { $0.copyMemory(from: slot) }
            property(UeventContextKey.pciParent, slot.count, to: &out)
            if let count = readLink("/sys/bus/pci/devices/", slot, "/driver") {
                // The link's last component is the driver's name.
                let start = (data[..<count].lastIndex(of: UInt8(ascii: "/")) ?? -1) + 1
                data.withUnsafeMutableBytes { buffer in
                    buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: count - start)
                }
                property(UeventContextKey.pciDriver, count - start, to: &out)
            }
        }
    }

    /// prefix + middle + suffix, NUL-terminated, into `path`; false when too long.
    private mutating func setPath(_ prefix: StaticString, _ middle: UnsafeRawBufferPointer, _ suffix: StaticString) -> Bool {
        let total = prefix.utf8CodeUnitCount + middle.count + suffix.utf8CodeUnitCount
        guard total < path.count else { return false }
        path.withUnsafeMutableBytes { buffer in
            var at = 0
            func put(_ part: UnsafeRawBufferPointer) {
                guard part.count > 0 else { return }
                (buffer.baseAddress! + at).copyMemory(from: part.baseAddress!, byteCount: part.count)
                at += part.count
            }
            put(UnsafeRawBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount))
            put(middle)
            put(UnsafeRawBufferPointer(start: suffix.utf8Start, count: suffix.utf8CodeUnitCount))
            buffer[at] = 0
        }
        return true
    }

    /// The file's contents without the trailing newline into `data`; nil when unreadable.
    private mutating func readFile(_ prefix: StaticString, _ middle: UnsafeRawBufferPointer, _ suffix: StaticString) -> Int? {
        guard setPath(prefix, middle, suffix) else { return nil }
        let fd = path.withUnsafeBytes { open($0.baseAddress!.assumingMemoryBound(to: CChar.self), O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var count = data.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        while count > 0, data[count - 1] == UInt8(ascii: "\n") { count -= 1 }
        return count
    }

    private mutating func readLink(_ prefix: StaticString, _ middle: UnsafeRawBufferPointer, _ suffix: StaticString) -> Int? {
        guard setPath(prefix, middle, suffix) else { return nil }
        let count = path.withUnsafeBytes { name in
            data.withUnsafeMutableBytes { readlink(name.baseAddress!.assumingMemoryBound(to: CChar.self), $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        return count > 0 ? count : nil
    }

    /// KEY=VALUE\0 with the first `count` bytes of `data`, as the kernel
    /// writes its own properties; a value with a NUL is cut there.
    private func property(_ key: StaticString, _ count: Int, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        out.append(UInt8(ascii: "="))
        out.append(contentsOf: data[..<count].prefix { $0 != 0 })
        out.append(0)
    }
}
