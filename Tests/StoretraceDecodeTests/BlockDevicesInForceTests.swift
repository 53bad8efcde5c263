import StoretraceDecode
import Testing

@Suite struct BlockDevicesInForceTests {
    static let snapshot = [
        NodeSnapshot.BlockDevice(name: "vda", major: 253, minor: 0, readAheadKB: 128),
        NodeSnapshot.BlockDevice(name: "vda1", parent: "vda", partitionNumber: 1, major: 253, minor: 1),
        NodeSnapshot.BlockDevice(name: "vdb", major: 253, minor: 16, readAheadKB: 4096),
    ]

    @Test func aPartitionUsesItsDisksReadAheadAndFollowsItsChanges() {
        var devices = BlockDevicesInForce(Self.snapshot)
        #expect(devices.device(major: 253, minor: 1)?.name == Array("vda1".utf8))
        #expect(devices.readAheadKB(major: 253, minor: 1) == 128)
        #expect(devices.device(major: 253, minor: 1)?.readAheadKB == 128)
        #expect(devices.readAheadKB(major: 253, minor: 16) == 4096)
        #expect(devices.device(major: 0, minor: 44) == nil, "tmpfs: no block device")

        devices.apply(QueueSettingChange(major: 253, minor: 0, device: Array("vda".utf8), setting: .readAheadKB,
                                         old: Array("128".utf8), new: Array("8".utf8)))
        #expect(devices.readAheadKB(major: 253, minor: 0) == 8)
        #expect(devices.readAheadKB(major: 253, minor: 1) == 8, "the partition's queue is its disk's")
        #expect(devices.readAheadKB(major: 253, minor: 16) == 4096, "another disk keeps its own")

        devices.apply(QueueSettingChange(major: 253, minor: 0, device: Array("vda".utf8), setting: .scheduler,
                                         old: Array("none".utf8), new: Array("mq-deadline".utf8)))
        #expect(devices.readAheadKB(major: 253, minor: 1) == 8, "other settings leave read-ahead alone")

        // A disk that appears while tracing: known from its first change on.
        devices.apply(QueueSettingChange(major: 259, minor: 0, device: Array("nvme0n1".utf8), setting: .readAheadKB,
                                         old: nil, new: Array("256".utf8)))
        #expect(devices.device(major: 259, minor: 0)?.name == Array("nvme0n1".utf8))
        #expect(devices.readAheadKB(major: 259, minor: 0) == 256)
    }
}
