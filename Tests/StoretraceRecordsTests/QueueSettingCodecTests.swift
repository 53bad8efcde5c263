import StoretraceCapture
import StoretraceDecode
import StoretraceRecords
import Testing

@Suite struct QueueSettingCodecTests {
    @Test func roundTripsAChangeAndANewDisk() throws {
        let change = QueueSettingChange(major: 7, minor: 0, device: Array("loop0".utf8), setting: .readAheadKB,
                                        old: Array("4".utf8), new: Array("128".utf8))
        let bytes = QueueSettingCodec.encode(change)
        // major 7, minor 0, setting 0, has_old 1, lengths 5 1 3, reserved, then "loop0" "4" "128"
        #expect(bytes == [7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 5, 1, 3, 0, 0, 0] + Array("loop04128".utf8))
        #expect(bytes.withUnsafeBytes { QueueSettingCodec.decode($0) } == change)

        let appeared = QueueSettingChange(major: 259, minor: 3, device: Array("nvme1n1".utf8), setting: .scheduler,
                                          old: nil, new: Array("none".utf8))
        let encoded = QueueSettingCodec.encode(appeared)
        #expect(encoded[9] == 0 && encoded[11] == 0)
        #expect(encoded.withUnsafeBytes { QueueSettingCodec.decode($0) } == appeared)
    }

    @Test func refusesShortOrInconsistentPayloads() {
        let good = QueueSettingCodec.encode(QueueSettingChange(major: 7, minor: 1, device: Array("loop1".utf8),
                                                               setting: .nrRequests, old: Array("64".utf8), new: Array("128".utf8)))
        for cut in 0..<good.count {
            #expect(Array(good.prefix(cut)).withUnsafeBytes { QueueSettingCodec.decode($0) } == nil, "cut at \(cut)")
        }
        var unknownSetting = good
        unknownSetting[8] = 9
        #expect(unknownSetting.withUnsafeBytes { QueueSettingCodec.decode($0) } == nil)
        var oldWithoutFlag = good
        oldWithoutFlag[9] = 0
        #expect(oldWithoutFlag.withUnsafeBytes { QueueSettingCodec.decode($0) } == nil)
        #expect((good + [0]).withUnsafeBytes { QueueSettingCodec.decode($0) } == nil)
    }

    @Test func typeIsRegisteredAsItsSourceKind() {
        #expect(CaptureRecordTypes.queueSetting.id == 8 && SourceKind.queueSetting.rawValue == 8)
        #expect(CaptureRecordTypes.written.contains(CaptureRecordTypes.queueSetting))
        let schema = CaptureSchema(typeId: 44, name: "storetrace.queue_setting", version: 1, fieldText: CaptureRecordTypes.queueSetting.fields)
        #expect(CaptureRecordRole(schema) == .data(.queueSetting, cpuInPayload: false))
        #expect(SourceKind.indexCount >= 8)
    }
}
