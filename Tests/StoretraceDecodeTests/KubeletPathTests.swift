import Testing
import StoretraceDecode

/// kubelet's volume paths, as the kubelet and CSI node plugins make them.
@Suite struct KubeletPathTests {
    struct Seen: Equatable {
        var role: KubeletPath.Role
        var pod: String?, volume: String?, driver: String?, plugin: String?
    }

    func parse(_ path: String, root: String? = nil) -> Seen? {
        Array(path.utf8).withUnsafeBytes { bytes in
            KubeletPath.read(bytes, under: root.map { Array($0.utf8) }).map { k in
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

    /// `--kubelet-root`: paths under it, whatever its last component is
    /// called; paths elsewhere are not kubelet's, even if shaped like them.
    @Test func aConfiguredRoot() {
        let root = "/data/k8s"
        #expect(parse("/data/k8s/pods/\(Self.pod)/volumes/kubernetes.io~csi/pvc-1/mount", root: root)
                == Seen(role: .podPublish, pod: Self.pod, volume: "pvc-1", plugin: "kubernetes.io~csi"))
        #expect(parse("/data/k8s/plugins/kubernetes.io/csi/disk.csi.example.com/3f9a0c1e2d/globalmount", root: root)
                == Seen(role: .staging, driver: "disk.csi.example.com"))
        // Without the root, the shape alone finds nothing: no `kubelet` component.
        #expect(parse("/data/k8s/pods/\(Self.pod)/volumes/kubernetes.io~csi/pvc-1/mount") == nil)
        // With it, a default-shaped path elsewhere is not one, nor a sibling sharing its prefix.
        #expect(parse("/var/lib/kubelet/pods/\(Self.pod)/volumes/kubernetes.io~csi/pvc-1/mount", root: root) == nil)
        #expect(parse("/data/k8s2/pods/\(Self.pod)/volumes/kubernetes.io~csi/pvc-1/mount", root: root) == nil)
        #expect(parse("/data/k8s", root: root) == nil)
        #expect(parse("/data/k8s/", root: root) == nil)
        #expect(parse("/data/k8s/containers/x", root: root) == nil)
    }

    /// Where vol_data.json lives: the parent of `mount` and `globalmount`.
    @Test func volumeDirectory() {
        func directory(_ path: String) -> String? {
            Array(path.utf8).withUnsafeBytes { bytes in
                KubeletPath(bytes)?.volumeDirectory.map { String(decoding: $0, as: UTF8.self) }
            }
        }
        let staging = "/var/lib/kubelet/plugins/kubernetes.io/csi/disk.csi.example.com/3f9a0c1e2d"
        #expect(directory(staging + "/globalmount") == staging)
        #expect(directory("/var/lib/kubelet/plugins/kubernetes.io/csi/pv/pvc-12ab/globalmount")
                == "/var/lib/kubelet/plugins/kubernetes.io/csi/pv/pvc-12ab")
        let publish = "/var/lib/kubelet/pods/\(Self.pod)/volumes/kubernetes.io~csi/pvc-12ab"
        #expect(directory(publish + "/mount") == publish)
        #expect(directory("/var/lib/kubelet/pods/\(Self.pod)/volumes/kubernetes.io~empty-dir/cache") == nil)
        #expect(directory("/var/lib/kubelet/plugins/kubernetes.io/csi/volumeDevices/staging/pvc-77") == nil)
    }

    /// kubelet's vol_data.json as its CSI plugin writes it (one object of strings).
    @Test func volData() {
        func volume(_ text: String) -> NodeSnapshot.KubeletVolume? {
            Array(text.utf8).withUnsafeBytes { NodeSnapshot.KubeletVolume(volData: $0, directory: "/d") }
        }
        #expect(volume(#"{"attachmentID":"csi-8e2f","driverName":"disk.csi.example.com","nodeName":"node-1","specVolumeID":"pvc-12ab","volumeHandle":"vol-0a1b2c","volumeLifecycleMode":"Persistent"}"#)
                == NodeSnapshot.KubeletVolume(directory: "/d", driver: "disk.csi.example.com", volumeHandle: "vol-0a1b2c", specName: "pvc-12ab"))
        // A staging one has only the three.
        #expect(volume(#"{"driverName":"d","specVolumeID":"pv-1","volumeHandle":"h"}"#)?.specName == "pv-1")
        #expect(volume(#"{"nodeName":"node-1"}"#) == nil)
        #expect(volume("[]") == nil)
        #expect(volume("{\"driverName\":") == nil)
        #expect(volume("") == nil)
    }

    /// Lookups by directory: exact bytes only.
    @Test func volumeTable() {
        let table = KubeletVolumeTable([
            .init(directory: "/k/pods/b/volumes/kubernetes.io~csi/pv-2", driver: "two"),
            .init(directory: "/k/plugins/kubernetes.io/csi/d/aa", driver: "one"),
            .init(directory: "/k/plugins/kubernetes.io/csi/d/a", driver: "short"),
        ])
        func find(_ directory: String) -> String? {
            Array(directory.utf8).withUnsafeBytes { table.volume(directory: $0)?.driver }
        }
        #expect(find("/k/plugins/kubernetes.io/csi/d/aa") == "one")
        #expect(find("/k/plugins/kubernetes.io/csi/d/a") == "short")
        #expect(find("/k/pods/b/volumes/kubernetes.io~csi/pv-2") == "two")
        #expect(find("/k/plugins/kubernetes.io/csi/d/ab") == nil)
        #expect(find("") == nil)
        #expect(KubeletVolumeTable.empty.isEmpty)
    }
}
