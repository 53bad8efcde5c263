import Foundation
import StoretraceAnalyze
import StoretraceFixtures
import Testing
@testable import StoretraceDecode
@testable import StoretraceRender

/// What a kubelet path cannot say, from the volume's vol_data.json in the
/// snapshot; `--kubelet-root`; the `k8s` object on mount_op and holders.
@Suite struct KubeletVolumeRenderTests {
    static let staging = "/var/lib/kubelet/plugins/kubernetes.io/csi/disk.csi.example.com/3f9a0c1e2d"
    static let pod = "7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
    static let publish = "/var/lib/kubelet/pods/\(pod)/volumes/kubernetes.io~csi/pvc-12ab"

    static func enrichment() -> SnapshotEnrichment {
        var snapshot = smallNodeSnapshot()
        snapshot.kubeletVolumes = [
            .init(directory: staging, driver: "disk.csi.example.com", volumeHandle: "vol-0a1b2c", specName: "pvc-12ab"),
            .init(directory: publish, driver: "disk.csi.example.com", volumeHandle: "vol-0a1b2c", specName: "pvc-12ab"),
        ]
        return SnapshotEnrichment(NodeSnapshotIndex(snapshot))
    }

    func render(_ builder: RecordBuilder, root: String? = nil) throws -> (text: String, json: String) {
        let text = TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock)
        let json = JSONRenderer(clock: clock)
        text.enrichment = Self.enrichment()
        json.enrichment = text.enrichment
        text.kubeletRoot = root.map { Array($0.utf8) }
        json.kubeletRoot = text.kubeletRoot
        var out = OutputBuffer(), outJSON = OutputBuffer()
        try builder.bytes.withRecord {
            text.render($0, into: &out)
            json.render($0, into: &outJSON)
        }
        return (String(decoding: out.bytes, as: UTF8.self), String(decoding: outJSON.bytes, as: UTF8.self))
    }

    @Test func aHashedStagingPathGetsItsVolumeFromVolData() throws {
        let staging = try render(.mount(["/dev/vdb", Self.staging + "/globalmount", "ext4", nil], flags: 0))
        #expect(staging.text.hasSuffix(" = 0 [staging vol pvc-12ab csi:disk.csi.example.com]\n"))
        #expect(staging.json.hasSuffix(#","k8s":{"role":"staging","pod_uid":null,"volume":"pvc-12ab","csi_driver":"disk.csi.example.com","plugin":null,"volume_handle":"vol-0a1b2c"}}"# + "\n"))
        // The pod's publish path names the PV; vol_data adds the driver and the handle.
        let publish = try render(.mount([Self.staging + "/globalmount", Self.publish + "/mount", nil, nil], flags: 0x1000))
        #expect(publish.text.hasSuffix(" = 0 [pod-publish pod 7f3e1c2a… vol pvc-12ab csi:disk.csi.example.com]\n"))
        #expect(publish.json.hasSuffix(#","volume":"pvc-12ab","csi_driver":"disk.csi.example.com","plugin":"kubernetes.io~csi","volume_handle":"vol-0a1b2c"}}"# + "\n"))
        // Another volume's globalmount: nothing recorded for it, nothing added.
        let other = try render(.umountCall("/var/lib/kubelet/plugins/kubernetes.io/csi/disk.csi.example.com/ffff/globalmount"))
        #expect(other.text.hasSuffix(" [staging csi:disk.csi.example.com]\n"))
        #expect(!other.json.contains("volume_handle"))
    }

    @Test func aKubeletRootElsewhere() throws {
        let root = "/home/t4/kubernetes/lib/kubelet"
        let path = root + "/pods/\(Self.pod)/volumes/kubernetes.io~csi/pvc-9/mount"
        #expect(try render(.umountCall(path), root: root).text.hasSuffix(" [pod-publish pod 7f3e1c2a… vol pvc-9]\n"))
        // With a root set, a path under another kubelet directory is not read.
        #expect(try !render(.umountCall(Self.publish + "/mount"), root: root).json.contains("k8s"))
        let custom = try render(.umountCall("/data/k8s/plugins/kubernetes.io/csi/pv/pvc-3/globalmount"), root: "/data/k8s")
        #expect(custom.json.contains(#""k8s":{"role":"staging","pod_uid":null,"volume":"pvc-3","csi_driver":null,"plugin":null}"#))
    }

    @Test func mountOperationsCarryTheirTargetsK8s() {
        let operation = MountOperation(pid: 4120, tids: [4121], comm: Array("csi-node".utf8), mountNamespace: 4026531841,
                                       start: 1_000_000_000, end: 1_000_050_000, latency: 2_500_000,
                                       calls: [.init(kind: .mount, count: 1)], action: .bind(recursive: false),
                                       source: .init(path: Array((Self.staging + "/globalmount").utf8)),
                                       target: .init(path: Array((Self.publish + "/mount").utf8)), outcome: .succeeded)
        let text = TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock)
        let json = JSONRenderer(clock: clock)
        var out = OutputBuffer(), outJSON = OutputBuffer()
        text.renderMountOperation(operation, into: &out)
        json.renderMountOperation(operation, into: &outJSON)
        #expect(String(decoding: out.bytes, as: UTF8.self).hasSuffix("(mount) = ok [pod-publish pod 7f3e1c2a… vol pvc-12ab]\n"))
        #expect(String(decoding: outJSON.bytes, as: UTF8.self).hasSuffix(
            #","incomplete":null,"k8s":{"role":"pod-publish","pod_uid":"7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b","volume":"pvc-12ab","csi_driver":null,"plugin":"kubernetes.io~csi"}}"# + "\n"))
    }
}
