import StoretraceFixtures
import Testing
@testable import StoretraceDecode
@testable import StoretraceRender

@Suite struct QueueSettingRenderTests {
    static let change = QueueSettingChange(major: 7, minor: 0, device: Array("loop0".utf8), setting: .readAheadKB,
                                           old: Array("4".utf8), new: Array("128".utf8))

    @Test func textAndJSON() {
        var out = OutputBuffer()
        TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock).renderQueueSetting(Self.change, monotonic: 1_000_000_000, into: &out)
        #expect(String(decoding: out.bytes, as: UTF8.self)
                == "14:07:31.123456  [queue]" + String(repeating: " ", count: 43) + "queue_setting loop0 7:0 read_ahead_kb 4 -> 128\n")
        out.removeAll()
        JSONRenderer(clock: clock).renderQueueSetting(Self.change, monotonic: 1_000_000_000, into: &out)
        #expect(String(decoding: out.bytes, as: UTF8.self) == #"{"time":"2026-11-23T14:07:31.123456789Z","type":"queue_setting","pid":null,"tid":null,"comm":null,"device":"loop0","dev":"7:0","setting":"read_ahead_kb","old":4,"new":128}"# + "\n")
    }

    @Test func schedulerOfANewDiskAndHostileBytes() {
        let appeared = QueueSettingChange(major: 259, minor: 1, device: Array("nvme\u{1B}[31m".utf8), setting: .scheduler,
                                          old: nil, new: Array("mq-deadline".utf8))
        var out = OutputBuffer()
        TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock).renderQueueSetting(appeared, monotonic: 1_000_000_000, into: &out)
        #expect(String(decoding: out.bytes, as: UTF8.self).hasSuffix("queue_setting nvme\\x1b[31m 259:1 scheduler mq-deadline (new disk)\n"))
        out.removeAll()
        JSONRenderer(clock: clock).renderQueueSetting(appeared, monotonic: 1_000_000_000, into: &out)
        #expect(String(decoding: out.bytes, as: UTF8.self).hasSuffix(#""device":"nvme\u001b[31m","dev":"259:1","setting":"scheduler","old":null,"new":"mq-deadline"}"# + "\n"))
    }

    @Test func sysfsValues() {
        func value(_ setting: QueueSetting, _ text: String) -> String {
            Array(text.utf8).withUnsafeBytes { String(decoding: $0[setting.value(in: $0)], as: UTF8.self) }
        }
        #expect(value(.scheduler, "mq-deadline kyber [bfq] none\n") == "bfq")
        #expect(value(.scheduler, "none\n") == "none")
        #expect(value(.readAheadKB, "128\n") == "128")
        #expect(value(.rotational, " 0 \n") == "0")
    }

    /// The text line of a copy: device and read-ahead in force after each
    /// file name, throughput after the result; a queue_setting moves it.
    @Test func copyLineShowsDeviceReadAheadAndThroughput() throws {
        var devices = BlockDevicesInForce([NodeSnapshot.BlockDevice(name: "loop0", major: 7, minor: 0, readAheadKB: 4)])
        var builder = RecordBuilder()
        builder.kind = 10
        builder.comm = "io.Copy"
        builder.latency = 250_000_000
        builder.args = [3, 0, 4, 0, 128 << 20, 0]
        builder.detail = [12, 7 << 20, 13, 60, 0, 0] // out: a tmpfs (0:60)
        builder.strings = ["src.bin", "dst.bin"]
        builder.ret = 128 << 20
        func line() throws -> String {
            var renderer = TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock)
            renderer.enrichment = SnapshotEnrichment(devices: devices)
            var out = OutputBuffer()
            try builder.bytes.withRecord { renderer.render($0, into: &out) }
            return String(decoding: out.bytes, as: UTF8.self)
        }
        #expect(try line().hasSuffix("copy_file_range(3<src.bin on loop0 read_ahead_kb=4>, NULL, 4<dst.bin>, NULL, 134217728, 0) = 134217728 (512.0 MiB/s)\n"))
        devices.apply(QueueSettingRenderTests.change)
        #expect(try line().hasSuffix("copy_file_range(3<src.bin on loop0 read_ahead_kb=128>, NULL, 4<dst.bin>, NULL, 134217728, 0) = 134217728 (512.0 MiB/s)\n"))
        builder.ret = 0
        #expect(try line().hasSuffix(", 134217728, 0) = 0\n"))
    }

    @Test func throughputText() {
        var out = OutputBuffer()
        out.appendThroughput(bytes: 128 << 20, nanoseconds: 275_862_069)
        #expect(String(decoding: out.bytes, as: UTF8.self) == "464.0 MiB/s")
        out.removeAll()
        out.appendThroughput(bytes: 0, nanoseconds: 5)
        #expect(String(decoding: out.bytes, as: UTF8.self) == "-")
    }
}
