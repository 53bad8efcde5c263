import Testing
import StoretraceDecode

/// What storetrace appends to a uevent from sysfs (`STORETRACE_*` keys) and
/// what it reads off the kernel's own fields to decide.
@Suite struct UeventContextTests {
    /// A loop attach as the kernel sends it, with what storetrace read then.
    static let loopAttach = """
        change@/devices/virtual/block/loop3\0\
        ACTION=change\0\
        DEVPATH=/devices/virtual/block/loop3\0\
        SUBSYSTEM=block\0\
        MAJOR=7\0\
        MINOR=3\0\
        DEVNAME=loop3\0\
        DEVTYPE=disk\0\
        SEQNUM=1666\0\
        STORETRACE_LOOP_BACKING_FILE=/var/lib/images/disk 1.img\0\
        STORETRACE_LOOP_OFFSET=1048576\0
        """
    static let loopDetach = """
        change@/devices/virtual/block/loop3\0\
        ACTION=change\0\
        DEVPATH=/devices/virtual/block/loop3\0\
        SUBSYSTEM=block\0\
        DEVNAME=loop3\0\
        DEVTYPE=disk\0\
        SEQNUM=1667\0\
        STORETRACE_LOOP_BACKING_FILE=\0
        """
    static let nvmeDiskAdd = """
        add@/devices/pci0000:00/0000:00:1d.0/0000:3b:00.0/nvme/nvme0/nvme0n1\0\
        ACTION=add\0\
        DEVPATH=/devices/pci0000:00/0000:00:1d.0/0000:3b:00.0/nvme/nvme0/nvme0n1\0\
        SUBSYSTEM=block\0\
        DEVNAME=nvme0n1\0\
        DEVTYPE=disk\0\
        SEQNUM=4242\0\
        STORETRACE_PCI_PARENT=0000:3b:00.0\0\
        STORETRACE_PCI_DRIVER=nvme\0
        """

    func withMessage<T>(_ text: String, _ body: (UeventMessage) throws -> T) throws -> T {
        try ascii(text).withUnsafeBytes { try body(try UeventMessage(parsing: $0)) }
    }
    func text(_ bytes: UnsafeRawBufferPointer?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    @Test func loopContextAttachedAndDetached() throws {
        try withMessage(Self.loopAttach) { message in
            #expect(message.isLoopDisk)
            let loop = try #require(message.loopContext)
            #expect(text(loop.backingFile) == "/var/lib/images/disk 1.img")
            #expect(loop.offset == 1_048_576)
            #expect(message.pciParent == nil) // virtual: under no PCI function
        }
        try withMessage(Self.loopDetach) { message in
            let loop = try #require(message.loopContext)
            #expect(loop.backingFile == nil)
            #expect(loop.offset == nil)
        }
        // A kernel message without storetrace's keys (an older capture): no context.
        try withMessage(diskAdd) { #expect($0.loopContext == nil && $0.pciParentContext == nil) }
    }

    /// The deepest PCI address in the devpath is the function the device sits under.
    @Test func pciParentFromTheDevpath() throws {
        try withMessage(Self.nvmeDiskAdd) { message in
            #expect(text(message.pciParent) == "0000:3b:00.0") // not the bridge 0000:00:1d.0
            #expect(text(message.pciParentContext?.slot) == "0000:3b:00.0")
            #expect(text(message.pciParentContext?.driver) == "nvme")
            #expect(!message.isLoopDisk)
        }
        try withMessage(diskAdd) { #expect(text($0.pciParent) == "0000:00:1f.2") }
        try withMessage(netRemove) { #expect($0.pciParent == nil) }
    }

    @Test func loopDisksAreLoopAndDigitsOnly() throws {
        func isLoop(_ name: String, subsystem: String = "block") throws -> Bool {
            try withMessage("change@/devices/virtual/block/\(name)\0ACTION=change\0DEVPATH=/devices/virtual/block/\(name)\0SUBSYSTEM=\(subsystem)\0DEVNAME=\(name)\0") { $0.isLoopDisk }
        }
        #expect(try isLoop("loop0"))
        #expect(try isLoop("loop248"))
        #expect(try !isLoop("loop0p1"))      // a partition: no loop/ directory
        #expect(try !isLoop("loop"))
        #expect(try !isLoop("loop-control", subsystem: "misc"))
        #expect(try !isLoop("loop1", subsystem: "bdi"))
    }
}
