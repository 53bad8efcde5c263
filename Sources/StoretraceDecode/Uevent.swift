// Parser for kernel uevents received on a NETLINK_KOBJECT_UEVENT socket
// bound to the kernel multicast group (lib/kobject_uevent.c):
//
//   ACTION@DEVPATH\0KEY=VALUE\0KEY=VALUE\0...
//
// kobject_uevent_env always adds ACTION, DEVPATH and SUBSYSTEM (then SEQNUM
// and whatever the bus/driver add), and every string, the header included,
// ends with a NUL. udev re-broadcasts events in its own binary format that
// starts with the "libudev\0" magic; those arrive on the udev group, not the
// kernel one, and are rejected here with their own error so callers can count
// them separately from corrupt messages.
//
// Parsing makes one pass over the message and keeps views into it; nothing is
// copied or allocated, and values stay valid only while the buffer is.

public enum UeventAction: Equatable, Sendable {
    case add, remove, change, move, online, offline, bind, unbind
    /// An action this parser does not know (newer kernels may add some).
    case unknown

    public init(_ text: UnsafeRawBufferPointer) {
        if text.equals("add") { self = .add }
        else if text.equals("remove") { self = .remove }
        else if text.equals("change") { self = .change }
        else if text.equals("move") { self = .move }
        else if text.equals("online") { self = .online }
        else if text.equals("offline") { self = .offline }
        else if text.equals("bind") { self = .bind }
        else if text.equals("unbind") { self = .unbind }
        else { self = .unknown }
    }
}

/// Keys the parser requires or converts to numbers, named in errors.
public enum UeventKey: String, Equatable, Sendable {
    case action = "ACTION"
    case devpath = "DEVPATH"
    case subsystem = "SUBSYSTEM"
    case major = "MAJOR"
    case minor = "MINOR"
    case seqnum = "SEQNUM"
}

public enum UeventParseError: Error, Equatable, Sendable {
    case empty
    /// A udev monitor message ("libudev\0" magic), not a kernel uevent.
    case libudevMessage
    /// The first string has no '@' separating ACTION from DEVPATH.
    case missingHeaderSeparator
    /// The message does not end with a NUL, so its last string may be cut off.
    case notNulTerminated
    /// A string after the header is empty, has no '=', or has an empty key.
    /// `offset` is where it starts in the message.
    case malformedProperty(offset: Int)
    case missingKey(UeventKey)
    /// MAJOR, MINOR or SEQNUM is present but not a decimal number that fits.
    case invalidNumber(UeventKey)
    /// The header's ACTION@DEVPATH disagrees with the ACTION/DEVPATH keys;
    /// the kernel writes both from the same values.
    case headerMismatch
}

public struct UeventMessage {
    /// The whole message as received.
    public let bytes: UnsafeRawBufferPointer
    public let action: UeventAction
    public let major: UInt32?
    public let minor: UInt32?
    /// The kernel's uevent sequence number (SEQNUM); gaps mean lost events.
    public let sequenceNumber: UInt64?
    /// Where the always-present values lie in `bytes` (offsets, not views:
    /// a typed `Event` is as large as its largest case, and every event is
    /// moved by value through the pipeline).
    private let actionRange: (start: UInt32, end: UInt32)
    private let devpathRange: (start: UInt32, end: UInt32)
    private let subsystemRange: (start: UInt32, end: UInt32)
    /// Offset of the first KEY=VALUE string (just past the header's NUL).
    private let propertiesStart: UInt32

    /// The ACTION value as text, for `.unknown` actions.
    public var actionName: UnsafeRawBufferPointer { bytes.view(Int(actionRange.start)..<Int(actionRange.end)) }
    public var devpath: UnsafeRawBufferPointer { bytes.view(Int(devpathRange.start)..<Int(devpathRange.end)) }
    public var subsystem: UnsafeRawBufferPointer { bytes.view(Int(subsystemRange.start)..<Int(subsystemRange.end)) }
    // The rest are looked up when asked (renderers, rarely): first occurrence wins, as for the others.
    public var devname: UnsafeRawBufferPointer? { value(forKey: "DEVNAME") }
    public var devtype: UnsafeRawBufferPointer? { value(forKey: "DEVTYPE") }
    public var driver: UnsafeRawBufferPointer? { value(forKey: "DRIVER") }
    public var pciSlotName: UnsafeRawBufferPointer? { value(forKey: "PCI_SLOT_NAME") }

    /// Validates and indexes one message. When a key appears more than once,
    /// the first occurrence wins (the kernel adds the core keys first).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(UeventParseError) {
        guard !bytes.isEmpty else { throw .empty }
        if bytes.starts(with: "libudev\0") { throw .libudevMessage }
        guard bytes[bytes.count - 1] == ASCII.nul else { throw .notNulTerminated }

        // Header: "ACTION@DEVPATH\0". The final-NUL check above guarantees a NUL.
        let headerEnd = bytes.firstIndex(of: ASCII.nul, in: 0..<bytes.count) ?? bytes.count
        guard let at = bytes.firstIndex(of: ASCII.at, in: 0..<headerEnd) else { throw .missingHeaderSeparator }
        let headerAction = bytes.view(0..<at)
        let headerDevpath = bytes.view(at + 1..<headerEnd)

        var action: UnsafeRawBufferPointer?
        var devpath: UnsafeRawBufferPointer?
        var subsystem: UnsafeRawBufferPointer?
        var major: UnsafeRawBufferPointer?
        var minor: UnsafeRawBufferPointer?
        var seqnum: UnsafeRawBufferPointer?

        let properties = headerEnd + 1
        try Self.forEachProperty(in: bytes, from: properties) { (key, value) throws(UeventParseError) in
            // Only the first occurrence of each key is kept.
            func keep(_ slot: inout UnsafeRawBufferPointer?) { if slot == nil { slot = value } }
            if key.equals("ACTION") { keep(&action) }
            else if key.equals("DEVPATH") { keep(&devpath) }
            else if key.equals("SUBSYSTEM") { keep(&subsystem) }
            else if key.equals("MAJOR") { keep(&major) }
            else if key.equals("MINOR") { keep(&minor) }
            else if key.equals("SEQNUM") { keep(&seqnum) }
        }

        guard let action else { throw .missingKey(.action) }
        guard let devpath else { throw .missingKey(.devpath) }
        guard let subsystem else { throw .missingKey(.subsystem) }
        guard Self.sameBytes(action, headerAction), Self.sameBytes(devpath, headerDevpath) else {
            throw .headerMismatch
        }

        // Messages are at most a few KiB (the socket reads 8 KiB); a capture's can be no larger than a record.
        guard bytes.count <= Int(UInt32.max) else { throw .malformedProperty(offset: Int(UInt32.max)) }
        func range(_ view: UnsafeRawBufferPointer) -> (start: UInt32, end: UInt32) {
            let start = view.baseAddress.map { $0 - bytes.baseAddress! } ?? 0
            return (UInt32(start), UInt32(start + view.count))
        }
        self.bytes = bytes
        self.action = UeventAction(action)
        self.actionRange = range(action)
        self.devpathRange = range(devpath)
        self.subsystemRange = range(subsystem)
        self.major = try Self.number(major, .major).map { value throws(UeventParseError) in
            guard let narrowed = UInt32(exactly: value) else { throw .invalidNumber(.major) }
            return narrowed
        }
        self.minor = try Self.number(minor, .minor).map { value throws(UeventParseError) in
            guard let narrowed = UInt32(exactly: value) else { throw .invalidNumber(.minor) }
            return narrowed
        }
        self.sequenceNumber = try Self.number(seqnum, .seqnum)
        self.propertiesStart = UInt32(properties)
    }

    /// Calls `body(key, value)` for every KEY=VALUE in message order,
    /// ACTION/DEVPATH/SUBSYSTEM included. Views point into `bytes`.
    public func forEachProperty<E: Error>(
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(E) {
        // The message was validated in init, so the walk cannot fail here.
        var index = Int(propertiesStart)
        while index < bytes.count {
            let end = bytes.firstIndex(of: ASCII.nul, in: index..<bytes.count) ?? bytes.count
            if let equals = bytes.firstIndex(of: ASCII.equals, in: index..<end) {
                try body(bytes.view(index..<equals), bytes.view(equals + 1..<end))
            }
            index = end + 1
        }
    }

    /// The value of the first `key`, or nil. A linear scan, no allocation.
    public func value(forKey key: StaticString) -> UnsafeRawBufferPointer? {
        var found: UnsafeRawBufferPointer?
        forEachProperty { (candidate, value) throws(Never) in
            if found == nil, candidate.equals(key) { found = value }
        }
        return found
    }

    // MARK: Private

    /// Walks the NUL-terminated KEY=VALUE strings from `start`, rejecting
    /// empty strings, strings without '=', and empty keys.
    private static func forEachProperty(
        in bytes: UnsafeRawBufferPointer, from start: Int,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(UeventParseError) -> Void
    ) throws(UeventParseError) {
        var index = start
        while index < bytes.count {
            let end = bytes.firstIndex(of: ASCII.nul, in: index..<bytes.count) ?? bytes.count
            guard let equals = bytes.firstIndex(of: ASCII.equals, in: index..<end), equals > index else {
                throw .malformedProperty(offset: index)
            }
            try body(bytes.view(index..<equals), bytes.view(equals + 1..<end))
            index = end + 1
        }
    }

    private static func number(
        _ text: UnsafeRawBufferPointer?, _ key: UeventKey
    ) throws(UeventParseError) -> UInt64? {
        guard let text else { return nil }
        guard let value = text.decimal(0..<text.count) else { throw .invalidNumber(key) }
        return value
    }

    private static func sameBytes(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
        lhs.elementsEqual(rhs)
    }
}

// MARK: - What storetrace adds from sysfs

/// Properties storetrace appends to a uevent when it arrives (live and
/// record), read from sysfs at that moment because the kernel's message
/// does not carry them; `STORETRACE_` keys, never the kernel's own.
public enum UeventContextKey {
    /// A loop device's `loop/backing_file`; empty when it has none (detached).
    public static let loopBackingFile: StaticString = "STORETRACE_LOOP_BACKING_FILE"
    /// A loop device's `loop/offset` in bytes.
    public static let loopOffset: StaticString = "STORETRACE_LOOP_OFFSET"
    /// The PCI function (`0000:00:04.0`) the device sits under, from its devpath.
    public static let pciParent: StaticString = "STORETRACE_PCI_PARENT"
    /// That function's driver (`nvme`, `virtio-pci`), from its `driver` link.
    public static let pciDriver: StaticString = "STORETRACE_PCI_DRIVER"
}

extension UeventMessage {
    /// A loop device's file as storetrace read it at receipt; nil when it
    /// did not read it (not a loop disk, an older capture).
    public struct LoopContext {
        /// nil: detached (the device had no backing file).
        public let backingFile: UnsafeRawBufferPointer?
        /// Bytes into the file where the device starts.
        public let offset: UInt64?
    }

    public var loopContext: LoopContext? {
        guard let file = value(forKey: UeventContextKey.loopBackingFile) else { return nil }
        let offset = value(forKey: UeventContextKey.loopOffset).flatMap { $0.decimal(0..<$0.count) }
        return LoopContext(backingFile: file.isEmpty ? nil : file, offset: offset)
    }

    /// The PCI function above the device and its driver, as read at receipt.
    public var pciParentContext: (slot: UnsafeRawBufferPointer, driver: UnsafeRawBufferPointer?)? {
        value(forKey: UeventContextKey.pciParent).map { ($0, value(forKey: UeventContextKey.pciDriver)) }
    }

    /// A whole loop device (`loop7`, not a partition of one).
    public var isLoopDisk: Bool {
        guard subsystem.equals("block"), let devname, devname.count > 4, devname.starts(with: "loop") else { return false }
        return devname[4...].allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// The last devpath component shaped like a PCI address (DDDD:BB:DD.F,
    /// hex), e.g. `0000:00:04.0` in
    /// `/devices/pci0000:00/0000:00:04.0/virtio1/block/vda`; nil for devices
    /// under no PCI function (virtual ones, loop).
    public var pciParent: UnsafeRawBufferPointer? {
        var found: UnsafeRawBufferPointer?
        var start = 0
        let path = devpath
        while start <= path.count {
            let end = path.firstIndex(of: UInt8(ascii: "/"), in: start..<path.count) ?? path.count
            let component = path.view(start..<end)
            if Self.isPCIAddress(component) { found = component }
            start = end + 1
        }
        return found
    }

    static func isPCIAddress(_ text: UnsafeRawBufferPointer) -> Bool {
        // 0000:00:04.0: 4 hex, ':', 2 hex, ':', 2 hex, '.', 1 octal digit
        guard text.count == 12, text[4] == UInt8(ascii: ":"), text[7] == UInt8(ascii: ":"), text[10] == UInt8(ascii: ".") else { return false }
        for index in [0, 1, 2, 3, 5, 6, 8, 9] {
            let byte = text[index]
            guard (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) else { return false }
        }
        return text[11] >= 0x30 && text[11] <= 0x37
    }
}
