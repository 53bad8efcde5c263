import StoretraceFixtures
import Testing
@testable import StoretraceDecode
@testable import StoretraceRender

/// The pod of a call's process: a `pod` object in JSON, a short suffix in text.
@Suite struct PodRenderTests {
    static let uid = "7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
    static let container = "3b1f0c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"

    func render(_ builder: RecordBuilder, pod: PodCgroup?, json: Bool, color: Bool = false) throws -> String {
        var out = OutputBuffer()
        try builder.bytes.withRecord { record in
            if json {
                JSONRenderer(clock: clock).render(record, pod: pod, into: &out)
            } else {
                TextRenderer(color: color, utcOffsetSeconds: 0, clock: clock).render(record, pod: pod, into: &out)
            }
        }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func aPodsCallAtItsOwnVolumePath() throws {
        let pod = PodCgroup(qos: .besteffort, podUID: Array(Self.uid.utf8), containerID: Array(Self.container.utf8),
                            runtime: .containerd, driver: .systemd)
        let builder = RecordBuilder.mount(["/src", "/var/lib/kubelet/pods/\(Self.uid)/volumes/kubernetes.io~csi/pvc-12ab/mount", nil, nil],
                                          flags: 0x1000)
        #expect(try render(builder, pod: pod, json: false).hasSuffix(
            " = 0 [pod-publish pod 7f3e1c2a… vol pvc-12ab] [by pod 7f3e1c2a… ctr 3b1f0c2d4e5f besteffort]\n"))
        #expect(try render(builder, pod: pod, json: true).hasSuffix(
            #""plugin":"kubernetes.io~csi"},"pod":{"uid":"7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b","qos":"besteffort","#
            + #""container_id":"3b1f0c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9","runtime":"containerd"}}"# + "\n"))
        // Colored, the suffix is dim like the kubelet one.
        #expect(try render(builder, pod: pod, json: false, color: true).contains("\u{1B}[2m [by pod 7f3e1c2a… ctr 3b1f0c2d4e5f besteffort]\u{1B}[0m"))
    }

    @Test func aPodWithoutContainerAndAHostProcess() throws {
        let pod = PodCgroup(qos: .guaranteed, podUID: Array(Self.uid.utf8), containerID: nil, runtime: nil, driver: .cgroupfs)
        let builder = RecordBuilder.mount(["/dev/vdb", "/mnt/x", "ext4", nil], flags: 0)
        #expect(try render(builder, pod: pod, json: false).hasSuffix(" = 0 [by pod 7f3e1c2a… guaranteed]\n"))
        #expect(try render(builder, pod: pod, json: true).hasSuffix(
            #","pod":{"uid":"7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b","qos":"guaranteed","container_id":null,"runtime":null}}"# + "\n"))
        // A host process: nothing added, the bytes of before.
        #expect(try render(builder, pod: nil, json: false) == text(builder))
        #expect(try render(builder, pod: nil, json: true) == json(builder))
        #expect(try !render(builder, pod: nil, json: true).contains("\"pod\""))
    }
}
