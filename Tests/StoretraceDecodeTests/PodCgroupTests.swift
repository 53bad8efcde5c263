import Testing
import StoretraceDecode

/// Cgroup paths as kubelet's two cgroup drivers and the container runtimes
/// make them, and paths that only look like them.
@Suite struct PodCgroupTests {
    struct Seen: Equatable {
        var qos: PodCgroup.QoS
        var pod: String
        var container: String?
        var runtime: PodCgroup.Runtime?
        var driver: PodCgroup.Driver
    }

    func parse(_ path: String) -> Seen? {
        Array(path.utf8).withUnsafeBytes { bytes in
            PodCgroup(path: bytes).map { pod in
                Seen(qos: pod.qos, pod: String(decoding: pod.podUID, as: UTF8.self),
                     container: pod.containerID.map { String(decoding: $0, as: UTF8.self) }, runtime: pod.runtime, driver: pod.driver)
            }
        }
    }

    static let uid = "7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
    /// The systemd driver's spelling of the same UID in a slice name.
    static let uidUnderscored = "7f3e1c2a_5b6d_4e8f_9a0b_1c2d3e4f5a6b"
    static let container = "3b1f0c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
    /// A static pod's UID: the hash of its manifest, 32 hex digits.
    static let staticUID = "2a5ce1b1d2b0d6b8f0e8f3c4a9d7e6f1"

    @Test func systemdDriverEachRuntimeAndQoS() {
        let (uid, u, id) = (Self.uid, Self.uidUnderscored, Self.container)
        // containerd, BestEffort (the cgroup v2 path BPF's cgroup id names on a v2 node).
        #expect(parse("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(u).slice/cri-containerd-\(id).scope")
                == Seen(qos: .besteffort, pod: uid, container: id, runtime: .containerd, driver: .systemd))
        // CRI-O, Burstable.
        #expect(parse("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(u).slice/crio-\(id).scope")
                == Seen(qos: .burstable, pod: uid, container: id, runtime: .crio, driver: .systemd))
        // Docker (dockershim, cri-dockerd), Guaranteed: no QoS slice.
        #expect(parse("/kubepods.slice/kubepods-pod\(u).slice/docker-\(id).scope")
                == Seen(qos: .guaranteed, pod: uid, container: id, runtime: .docker, driver: .systemd))
        // The pod's own slice (no container), as a v1 line of /proc/PID/cgroup: 5:pids:/kubepods.slice/...
        #expect(parse("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(u).slice")
                == Seen(qos: .burstable, pod: uid, container: nil, runtime: nil, driver: .systemd))
        // CRI-O's monitor runs beside the container in the pod: the pod, no container.
        #expect(parse("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(u).slice/crio-conmon-\(id).scope")
                == Seen(qos: .burstable, pod: uid, container: nil, runtime: nil, driver: .systemd))
        // A cgroup the container made under its scope (systemd in a container, cgroup namespaces).
        #expect(parse("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(u).slice/cri-containerd-\(id).scope/init.scope")
                == Seen(qos: .besteffort, pod: uid, container: id, runtime: .containerd, driver: .systemd))
        // kind's nodes nest kubepods under kubelet.slice, with the parent's name repeated.
        #expect(parse("/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod\(u).slice/cri-containerd-\(id).scope")
                == Seen(qos: .besteffort, pod: uid, container: id, runtime: .containerd, driver: .systemd))
        // A static pod (kube-apiserver from a manifest): 32 hex digits.
        #expect(parse("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(Self.staticUID).slice/cri-containerd-\(id).scope")
                == Seen(qos: .burstable, pod: Self.staticUID, container: id, runtime: .containerd, driver: .systemd))
    }

    @Test func cgroupfsDriver() {
        let (uid, id) = (Self.uid, Self.container)
        #expect(parse("/kubepods/besteffort/pod\(uid)/\(id)")
                == Seen(qos: .besteffort, pod: uid, container: id, runtime: nil, driver: .cgroupfs))
        #expect(parse("/kubepods/burstable/pod\(uid)/\(id)")
                == Seen(qos: .burstable, pod: uid, container: id, runtime: nil, driver: .cgroupfs))
        #expect(parse("/kubepods/pod\(uid)/\(id)")
                == Seen(qos: .guaranteed, pod: uid, container: id, runtime: nil, driver: .cgroupfs))
        // CRI-O with cgroupfs names the container's cgroup crio-<id>.
        #expect(parse("/kubepods/burstable/pod\(uid)/crio-\(id)")
                == Seen(qos: .burstable, pod: uid, container: id, runtime: .crio, driver: .cgroupfs))
        #expect(parse("/kubepods/besteffort/pod\(uid)")
                == Seen(qos: .besteffort, pod: uid, container: nil, runtime: nil, driver: .cgroupfs))
        // Under a --cgroup-root (kind: /kubelet).
        #expect(parse("/kubelet/kubepods/besteffort/pod\(uid)/\(id)")
                == Seen(qos: .besteffort, pod: uid, container: id, runtime: nil, driver: .cgroupfs))
    }

    @Test func pathsThatOnlyLookLikeAPods() {
        let (uid, u, id) = (Self.uid, Self.uidUnderscored, Self.container)
        for path in [
            "/",
            "/system.slice/kubelet.service",
            "/system.slice/containerd.service",
            "/kubepods.slice",
            "/kubepods.slice/kubepods-besteffort.slice",          // a QoS slice: no pod yet
            "/kubepods/besteffort",
            // The slice is not in the parent its name says.
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-burstable-pod\(u).slice/cri-containerd-\(id).scope",
            "/kubepods.slice/kubepods-pod\(u).slice.bak/cri-containerd-\(id).scope",
            // A QoS class Kubernetes does not have.
            "/kubepods.slice/kubepods-premium.slice/kubepods-premium-pod\(u).slice",
            // A systemd slice with dashes in the UID (systemd would nest it) and a cgroupfs pod with underscores.
            "/kubepods.slice/kubepods-pod\(uid).slice",
            "/kubepods/besteffort/pod\(u)/\(id)",
            // Not a UID: too short, upper case, not hex.
            "/kubepods/besteffort/pod7f3e1c2a/\(id)",
            "/kubepods/besteffort/pod\(uid.uppercased())/\(id)",
            "/kubepods/besteffort/pod\(uid.replacingOccurrences(of: "a", with: "g"))/\(id)",
            // Not under kubepods.
            "/user.slice/user-0.slice/pod\(uid)/\(id)",
            "/system.slice/docker-\(id).scope",
            "/besteffort/pod\(uid)/\(id)",
        ] {
            #expect(parse(path) == nil, "\(path)")
        }
        // A pod whose container cgroup is not a runtime's (a short id, a name): the pod, no container.
        #expect(parse("/kubepods.slice/kubepods-pod\(u).slice/cri-containerd-3b1f0c2d.scope")?.container == nil)
        #expect(parse("/kubepods/pod\(uid)/sidecar")?.container == nil)
        #expect(parse("/kubepods/pod\(uid)/\(id.uppercased())")?.container == nil)
    }

    @Test func procCgroupFileChoosesThePodLine() {
        let (uid, u, id) = (Self.uid, Self.uidUnderscored, Self.container)
        func best(_ text: String) -> String? {
            Array(text.utf8).withUnsafeBytes { ProcCgroupFile.bestPath($0) }.map { String(decoding: $0, as: UTF8.self) }
        }
        // Hybrid, systemd driver: the pod in every v1 hierarchy, the unified one at the root.
        let pod = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(u).slice/cri-containerd-\(id).scope"
        #expect(best("""
            12:pids:\(pod)
            11:name=systemd:\(pod)
            1:cpu,cpuacct:\(pod)
            0::/

            """) == pod)
        // v1, cgroupfs: only the memory hierarchy holds the pod (others left at the root).
        #expect(best("""
            4:memory:/kubepods/burstable/pod\(uid)/\(id)
            3:cpuset:/
            0::/

            """) == "/kubepods/burstable/pod\(uid)/\(id)")
        // No pod: the unified path, else name=systemd's, else the first.
        #expect(best("9:name=systemd:/system.slice/kubelet.service\n0::/system.slice/kubelet.service\n") == "/system.slice/kubelet.service")
        #expect(best("9:name=systemd:/user.slice\n4:memory:/\n") == "/user.slice")
        #expect(best("4:memory:/x\n") == "/x")
        // Malformed lines are skipped.
        #expect(best("garbage\n::\nx:memory:/y\n") == nil)
        #expect(best("") == nil)
    }
}
