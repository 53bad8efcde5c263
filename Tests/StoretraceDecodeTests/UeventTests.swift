import Testing
import StoretraceDecode

// Messages in the kernel's format: "ACTION@DEVPATH\0" then "KEY=VALUE\0" strings.

let diskAdd = """
add@/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda\0\
ACTION=add\0\
DEVPATH=/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda\0\
SUBSYSTEM=block\0\
MAJOR=8\0\
MINOR=0\0\
DEVNAME=sda\0\
DEVTYPE=disk\0\
DISKSEQ=1\0\
SEQNUM=2412\0
"""

let netRemove = """
remove@/devices/virtual/net/veth0\0\
ACTION=remove\0\
DEVPATH=/devices/virtual/net/veth0\0\
SUBSYSTEM=net\0\
INTERFACE=veth0\0\
IFINDEX=5\0\
SEQNUM=99\0
"""

let pciBind = """
bind@/devices/pci0000:00/0000:00:03.0\0\
ACTION=bind\0\
DEVPATH=/devices/pci0000:00/0000:00:03.0\0\
SUBSYSTEM=pci\0\
DRIVER=e1000\0\
PCI_CLASS=20000\0\
PCI_ID=8086:100E\0\
PCI_SLOT_NAME=0000:00:03.0\0\
MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00\0\
OPTION=a=b\0\
SEQNUM=2001\0
"""

func parseUevent(_ message: String) throws(UeventParseError) -> UeventSnapshot {
    let bytes = ascii(message)
    let result = bytes.withUnsafeBytes { buffer in
        Result { () throws(UeventParseError) in UeventSnapshot(try UeventMessage(parsing: buffer)) }
    }
    return try result.get()
}

/// The parsed message copied out of the buffer, for comparing after it is gone.
struct UeventSnapshot: Equatable {
    var action: UeventAction
    var actionName, devpath, subsystem: String?
    var devname, devtype, driver, pciSlotName: String?
    var major, minor: UInt32?
    var sequenceNumber: UInt64?
    var properties: [String]

    init(_ message: UeventMessage) {
        action = message.action
        actionName = text(message.actionName)
        devpath = text(message.devpath)
        subsystem = text(message.subsystem)
        devname = text(message.devname)
        devtype = text(message.devtype)
        driver = text(message.driver)
        pciSlotName = text(message.pciSlotName)
        major = message.major
        minor = message.minor
        sequenceNumber = message.sequenceNumber
        var properties: [String] = []
        message.forEachProperty { key, value in
            properties.append("\(text(key)!)=\(text(value)!)")
        }
        self.properties = properties
    }
}

@Suite struct UeventTests {
    @Test func blockDeviceAdd() throws {
        let event = try parseUevent(diskAdd)
        #expect(event.action == .add)
        #expect(event.devpath == "/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda")
        #expect(event.subsystem == "block")
        #expect(event.devname == "sda")
        #expect(event.devtype == "disk")
        #expect(event.major == 8)
        #expect(event.minor == 0)
        #expect(event.sequenceNumber == 2412)
        #expect(event.driver == nil)
        #expect(event.pciSlotName == nil)
        #expect(event.properties.count == 9)
        #expect(event.properties.first == "ACTION=add")
        #expect(event.properties.last == "SEQNUM=2412")
        #expect(event.properties.contains("DISKSEQ=1"))
    }

    @Test func netDeviceRemove() throws {
        let event = try parseUevent(netRemove)
        #expect(event.action == .remove)
        #expect(event.subsystem == "net")
        #expect(event.devname == nil)
        #expect(event.major == nil)
        #expect(event.sequenceNumber == 99)
        #expect(event.properties == [
            "ACTION=remove", "DEVPATH=/devices/virtual/net/veth0", "SUBSYSTEM=net",
            "INTERFACE=veth0", "IFINDEX=5", "SEQNUM=99",
        ])
    }

    @Test func driverBind() throws {
        let event = try parseUevent(pciBind)
        #expect(event.action == .bind)
        #expect(event.driver == "e1000")
        #expect(event.pciSlotName == "0000:00:03.0")
        #expect(event.sequenceNumber == 2001)
        // Only the first '=' separates key from value.
        #expect(event.properties.contains("OPTION=a=b"))
    }

    @Test func valueLookupByKey() throws {
        let bytes = ascii(pciBind)
        try bytes.withUnsafeBytes { (buffer) throws in
            let message = try UeventMessage(parsing: buffer)
            #expect(text(message.value(forKey: "PCI_ID")) == "8086:100E")
            #expect(text(message.value(forKey: "OPTION")) == "a=b")
            #expect(message.value(forKey: "PCI") == nil)  // a prefix of a key is not a key
            #expect(message.value(forKey: "NOPE") == nil)
        }
    }

    @Test func everyAction() throws {
        let actions: [(String, UeventAction)] = [
            ("add", .add), ("remove", .remove), ("change", .change), ("move", .move),
            ("online", .online), ("offline", .offline), ("bind", .bind), ("unbind", .unbind),
            ("frobnicate", .unknown),
        ]
        for (name, action) in actions {
            let event = try parseUevent("\(name)@/x\0ACTION=\(name)\0DEVPATH=/x\0SUBSYSTEM=s\0")
            #expect(event.action == action)
            #expect(event.actionName == name)
        }
    }

    @Test func firstOccurrenceOfAKeyWins() throws {
        let event = try parseUevent("change@/x\0ACTION=change\0DEVPATH=/x\0SUBSYSTEM=a\0SUBSYSTEM=b\0")
        #expect(event.subsystem == "a")
    }

    @Test func malformedMessages() {
        let cases: [(String, UeventParseError)] = [
            ("", .empty),
            // No '@' in the header.
            ("add/devices/x\0ACTION=add\0DEVPATH=/x\0SUBSYSTEM=s\0", .missingHeaderSeparator),
            // Last string cut off: no final NUL.
            ("add@/x\0ACTION=add\0DEVPATH=/x\0SUBSYSTEM=s", .notNulTerminated),
            // No SUBSYSTEM key.
            ("add@/x\0ACTION=add\0DEVPATH=/x\0SEQNUM=1\0", .missingKey(.subsystem)),
            ("add@/x\0DEVPATH=/x\0SUBSYSTEM=s\0", .missingKey(.action)),
            ("add@/x\0ACTION=add\0SUBSYSTEM=s\0", .missingKey(.devpath)),
            // "garbage" at offset 29 has no '='.
            ("add@/x\0ACTION=add\0DEVPATH=/x\0garbage\0SUBSYSTEM=s\0", .malformedProperty(offset: 29)),
            // An empty string (two NULs in a row) at offset 18.
            ("add@/x\0ACTION=add\0\0DEVPATH=/x\0SUBSYSTEM=s\0", .malformedProperty(offset: 18)),
            // An empty key.
            ("add@/x\0=add\0", .malformedProperty(offset: 7)),
            ("add@/x\0ACTION=add\0DEVPATH=/x\0SUBSYSTEM=s\0MAJOR=eight\0", .invalidNumber(.major)),
            ("add@/x\0ACTION=add\0DEVPATH=/x\0SUBSYSTEM=s\0MINOR=4294967296\0", .invalidNumber(.minor)),
            ("add@/x\0ACTION=add\0DEVPATH=/x\0SUBSYSTEM=s\0SEQNUM=\0", .invalidNumber(.seqnum)),
            // Header says remove, keys say add.
            ("remove@/x\0ACTION=add\0DEVPATH=/x\0SUBSYSTEM=s\0", .headerMismatch),
            ("add@/y\0ACTION=add\0DEVPATH=/x\0SUBSYSTEM=s\0", .headerMismatch),
        ]
        for (message, expected) in cases {
            #expect(throws: expected, "\(message.debugDescription)") { try parseUevent(message) }
        }
    }

    @Test func libudevMessagesAreRejected() {
        // udev's monitor format: "libudev\0", then a binary header starting
        // with the magic 0xfeedcafe in network byte order, then properties.
        let message: [UInt8] = ascii("libudev") + [0]
            + [0xFE, 0xED, 0xCA, 0xFE]          // magic
            + le32(40) + le32(40) + le32(12)    // header size, properties offset, length
            + [0, 0, 0, 0, 0, 0, 0, 0]          // subsystem and devtype hashes
            + [0, 0, 0, 0, 0, 0, 0, 0]          // tag bloom filter
            + ascii("ACTION=add") + [0, 0]
        _ = message.withUnsafeBytes { buffer in
            #expect(throws: UeventParseError.libudevMessage) { try UeventMessage(parsing: buffer) }
        }
    }
}
