import Testing
import StoretraceDecode

/// kubelet's volume paths, as the kubelet and CSI node plugins make them.
@Suite struct KubeletPathTests {
    struct Seen: Equatable {
        var role: KubeletPath.Role
        var pod: String?, volume: String?, driver: String?, plugin: String?
    }

    func parse(_ path: String) -> Seen? {
        Array(path.utf8).withUnsafeBytes { bytes in
            KubeletPath(bytes).map { k in
                func text(_ view: UnsafeRawBufferPointer?) -> String? { view.map { String(decoding: $0, as: UTF8.self) } }
                return Seen(role: k.role, pod: text(k.podUID), volume: text(k.volume), driver: text(k.csiDriver), plugin: text(k.plugin))
            }
        }
    }

    static let pod = "7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"

    @Test func everyRole() {
        let root = "/var/lib/kubelet"
        #expect(parse("\(root)/pods/\(Self.pod)/volumes/kubernetes.io~csi/pvc-12ab/mount")
                == Seen(role: .podPublish, pod: Self.pod, volume: "pvc-12ab", plugin: "kubernetes.io~csi"))
        #expect(parse("\(root)/pods/\(Self.pod)/volumes/kubernetes.io~empty-dir/cache")
                == Seen(role: .podVolume, pod: Self.pod, volume: "cache", plugin: "kubernetes.io~empty-dir"))
        #expect(parse("\(root)/pods/\(Self.pod)/volumeDevices/kubernetes.io~csi/pvc-77")
                == Seen(role: .podBlockDevice, pod: Self.pod, volume: "pvc-77", plugin: "kubernetes.io~csi"))
        #expect(parse("\(root)/plugins/kubernetes.io/csi/disk.csi.example.com/3f9a0c1e2d/globalmount")
                == Seen(role: .staging, driver: "disk.csi.example.com"))
        #expect(parse("\(root)/plugins/kubernetes.io/csi/pv/pvc-12ab/globalmount")
                == Seen(role: .staging, volume: "pvc-12ab"))
        #expect(parse("\(root)/plugins/kubernetes.io/csi/volumeDevices/staging/pvc-77")
                == Seen(role: .blockStaging, volume: "pvc-77"))
        #expect(parse("\(root)/plugins/kubernetes.io/csi/volumeDevices/publish/pvc-77/\(Self.pod)")
                == Seen(role: .blockPublish, pod: Self.pod, volume: "pvc-77"))
        #expect(parse("\(root)/plugins/kubernetes.io/csi/volumeDevices/pvc-77/dev/\(Self.pod)")
                == Seen(role: .blockGlobalMap, pod: Self.pod, volume: "pvc-77"))
    }

    /// The root is found from the shape: a relocated kubelet, doubled slashes.
    @Test func anyKubeletRoot() {
        #expect(parse("/home/t4/kubernetes/lib/kubelet/pods/\(Self.pod)/volumes/kubernetes.io~csi/pv-1/mount")?.volume == "pv-1")
        #expect(parse("//var/lib//kubelet/pods/\(Self.pod)/volumes/kubernetes.io~csi/pv-1/mount/")?.role == .podPublish)
        // A kubelet root inside a pod volume: the last one counts.
        #expect(parse("/var/lib/kubelet/pods/a/volumes/kubernetes.io~empty-dir/x/kubelet/pods/b/volumes/kubernetes.io~csi/pv-2/mount")
                == Seen(role: .podPublish, pod: "b", volume: "pv-2", plugin: "kubernetes.io~csi"))
    }

    @Test func otherPathsAreNot() {
        #expect(parse("/var/lib/kubelet/plugins/globalmount") == nil)
        #expect(parse("/var/lib/kubelet/pods/\(Self.pod)") == nil)
        #expect(parse("/var/lib/kubelet/pods/\(Self.pod)/containers/app") == nil)
        #expect(parse("/mnt/x") == nil)
        #expect(parse("") == nil)
        #expect(parse("/var/lib/kubelet") == nil)
        #expect(parse("/var/lib/kubelet/plugins/kubernetes.io/csi/volumeDevices/pvc-77/data/vol_data.json") == nil)
    }
}
