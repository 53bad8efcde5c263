import StoretraceFixtures
import Testing
@testable import StoretraceDecode
@testable import StoretraceRender

/// JSON enriched from `smallNodeSnapshot()` (SnapshotRendererTests): the
/// namespace 4026532201 is owned by sleep[812]; 254:1 is the partition vda1
/// of vda (read_ahead_kb 8192, the disk's: a partition has no queue); 0:60 is
/// a tmpfs (no block device).
@Suite struct SnapshotEnrichmentTests {
    let enriched = JSONRenderer(clock: clock, enrichment: SnapshotEnrichment(NodeSnapshotIndex(smallNodeSnapshot())))

    func render(_ builder: RecordBuilder) throws -> String {
        var out = OutputBuffer()
        try builder.bytes.withRecord { enriched.render($0, into: &out) }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func copyNamesTheOwnerTheDiskAndItsReadAhead() throws {
        var builder = RecordBuilder()
        builder.kind = 10 // copy_file_range
        builder.mntns = 4_026_532_201
        builder.args = [3, 0, 4, 0, 4096, 0]
        //               in: ino 12 on 254:1      out: ino 13 on 0:60  off_in, off_out
        builder.detail = [12, (254 << 20) | 1, 13, (0 << 20) | 60, 0, 0]
        builder.strings = ["a.bin", "b.bin"]
        builder.ret = 4096
        let line = try render(builder)
        #expect(line.contains(#""mntns":4026532201,"mntns_owner":{"pid":812,"comm":"sleep"},"cgroup_id":1,"#))
        #expect(line.contains(#""file_in":{"dev":"254:1","ino":12,"name":"a.bin","block_device":"vda1","read_ahead_kb":8192}"#))
        #expect(line.contains(#""file_out":{"dev":"0:60","ino":13,"name":"b.bin","block_device":null,"read_ahead_kb":null}"#))
    }

    /// The initial namespace is labelled, not stood for by init or kthreadd.
    @Test func initialNamespaceIsTheHost() throws {
        var builder = RecordBuilder.mount(["/a", "/b", nil, nil], flags: 4096)
        builder.mntns = 4_026_531_832
        #expect(try render(builder).contains(#""mntns":4026531832,"mntns_owner":{"label":"host"},"cgroup_id""#))
    }

    @Test func namespaceTheSnapshotNeverSawIsNull() throws {
        var builder = RecordBuilder.mount(["/a", "/b", nil, nil], flags: 4096)
        builder.mntns = 4_026_539_999
        #expect(try render(builder).contains(#""mntns":4026539999,"mntns_owner":null,"cgroup_id""#))
    }

    /// Without a snapshot (plain `live`) the keys are absent, not null.
    @Test func withoutSnapshotNothingIsAdded() throws {
        let line = try json(RecordBuilder.mount(["/a", "/b", nil, nil], flags: 4096))
        #expect(!line.contains("mntns_owner"))
        #expect(!line.contains("block_device"))
    }
}
