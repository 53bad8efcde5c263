// What a cgroup path says about the Kubernetes pod and container a process
// runs in, for both of kubelet's cgroup drivers and the three container
// runtimes' scope names. Pure: the path's bytes in, no I/O. Runs once per
// cgroup or process resolved (`PodTable`), never per event, so it returns
// owned bytes.
//
// systemd driver (each slice's name repeats its parents', dash-separated):
//   .../kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid with _>.slice/cri-containerd-<id>.scope
//   .../kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/crio-<id>.scope
//   .../kubepods.slice/kubepods-pod<uid>.slice/docker-<id>.scope              (guaranteed: no QoS slice)
//   kind and other nested roots: kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod<uid>.slice/...
// cgroupfs driver:
//   .../kubepods/besteffort/pod<uid>/<id>        (also crio-<id>, docker-<id>, cri-containerd-<id>)
//   .../kubepods/pod<uid>/<id>                   (guaranteed)
// A path that ends at the pod's own cgroup (or holds something else under
// it, such as CRI-O's crio-conmon-<id>.scope) is the pod without a container.
// <uid> is a UUID (36 bytes, `_` for `-` in systemd names) or a static pod's
// 32 hex digits; <id> is 64 hex digits. Anything else is not a pod's cgroup.

public struct PodCgroup: Hashable, Sendable {
    public enum QoS: UInt8, Hashable, Sendable {
        case guaranteed, burstable, besteffort

        /// As Kubernetes names the class, lowercase (`pod.qos`, docs/events.md).
        public var name: StaticString {
            switch self {
            case .guaranteed: "guaranteed"
            case .burstable: "burstable"
            case .besteffort: "besteffort"
            }
        }
    }

    /// Which runtime the container's cgroup name says created it (nil: a
    /// cgroupfs container named by its bare id, which does not say).
    public enum Runtime: UInt8, Sendable {
        case containerd, crio, docker

        public var name: StaticString {
            switch self {
            case .containerd: "containerd"
            case .crio: "cri-o"
            case .docker: "docker"
            }
        }
    }

    public enum Driver: UInt8, Sendable {
        case systemd, cgroupfs
    }

    public var qos: QoS
    /// The pod's UID as the API server writes it (dashes, also for the
    /// systemd driver's underscores), so it compares with kubelet paths' UIDs.
    public var podUID: [UInt8]
    /// The container's id (64 hex digits); nil for the pod's own cgroup.
    public var containerID: [UInt8]?
    public var runtime: Runtime?
    public var driver: Driver

    public init(qos: QoS, podUID: [UInt8], containerID: [UInt8]?, runtime: Runtime?, driver: Driver) {
        self.qos = qos
        self.podUID = podUID
        self.containerID = containerID
        self.runtime = runtime
        self.driver = driver
    }

    /// nil for a path that is not a Kubernetes pod's cgroup (a host
    /// process's, or one that only looks like a pod's).
    public init?(path: UnsafeRawBufferPointer) {
        let parsed: PodCgroup? = path.withPathComponents { parts, count in
            // The deepest pod cgroup wins (a pod's cgroup cannot hold another's).
            var index = count - 1
            while index >= 0 {
                if let pod = Self.systemdPod(path, parts, count, at: index) ?? Self.cgroupfsPod(path, parts, count, at: index) {
                    return pod
                }
                index -= 1
            }
            return nil
        }
        guard let parsed else { return nil }
        self = parsed
    }

    /// `<P>-pod<uid>.slice` at `index`, under `<P>.slice`, where P is
    /// `...kubepods`, `...kubepods-besteffort` or `...kubepods-burstable`.
    private static func systemdPod(_ path: UnsafeRawBufferPointer, _ parts: UnsafeMutableBufferPointer<Range<Int>>,
                                   _ count: Int, at index: Int) -> PodCgroup? {
        guard index >= 1 else { return nil }
        let name = path.view(parts[index])
        guard name.count > 6, name.ends(with: ".slice") else { return nil }
        let stem = UnsafeRawBufferPointer(rebasing: name.dropLast(6))
        // The last "-pod" splits the parent's name from the UID.
        guard let dash = lastRange(of: "-pod", in: stem) else { return nil }
        let parentStem = UnsafeRawBufferPointer(rebasing: stem[..<dash.lowerBound])
        guard let uid = podUID(UnsafeRawBufferPointer(rebasing: stem[dash.upperBound...]), separator: UInt8(ascii: "_")) else {
            return nil
        }
        // The parent directory must be that slice: systemd nests a slice
        // named a-b-c.slice in a-b.slice.
        let parent = path.view(parts[index - 1])
        guard parent.count == parentStem.count + 6, parent.starts(with: parentStem), parent.ends(with: ".slice") else {
            return nil
        }
        let qos: QoS
        if parentStem.equals("kubepods") || parentStem.ends(with: "-kubepods") {
            qos = .guaranteed
        } else if parentStem.equals("kubepods-besteffort") || parentStem.ends(with: "-kubepods-besteffort") {
            qos = .besteffort
        } else if parentStem.equals("kubepods-burstable") || parentStem.ends(with: "-kubepods-burstable") {
            qos = .burstable
        } else {
            return nil
        }
        var container: (id: [UInt8], runtime: Runtime)?
        if index + 1 < count {
            let scope = path.view(parts[index + 1])
            if scope.ends(with: ".scope") {
                let stem = UnsafeRawBufferPointer(rebasing: scope.dropLast(6))
                container = containerName(stem)
            }
        }
        return PodCgroup(qos: qos, podUID: uid, containerID: container?.id, runtime: container?.runtime, driver: .systemd)
    }

    /// `kubepods/[besteffort|burstable/]pod<uid>` ending at `index`.
    private static func cgroupfsPod(_ path: UnsafeRawBufferPointer, _ parts: UnsafeMutableBufferPointer<Range<Int>>,
                                    _ count: Int, at index: Int) -> PodCgroup? {
        guard index >= 1 else { return nil }
        let name = path.view(parts[index])
        guard name.starts(with: "pod"),
              let uid = podUID(UnsafeRawBufferPointer(rebasing: name.dropFirst(3)), separator: UInt8(ascii: "-")) else { return nil }
        let qos: QoS
        let parent = path.view(parts[index - 1])
        if parent.equals("kubepods") {
            qos = .guaranteed
        } else if index >= 2, path.view(parts[index - 2]).equals("kubepods") {
            if parent.equals("besteffort") { qos = .besteffort }
            else if parent.equals("burstable") { qos = .burstable }
            else { return nil }
        } else {
            return nil
        }
        var container: (id: [UInt8], runtime: Runtime?)?
        if index + 1 < count {
            let child = path.view(parts[index + 1])
            if isContainerID(child) {
                container = (Array(child), nil)
            } else if let named = containerName(child) {
                container = (named.id, named.runtime)
            }
        }
        return PodCgroup(qos: qos, podUID: uid, containerID: container?.id, runtime: container?.runtime, driver: .cgroupfs)
    }

    /// `cri-containerd-<id>`, `crio-<id>`, `docker-<id>` (a scope's name without `.scope`).
    private static func containerName(_ stem: UnsafeRawBufferPointer) -> (id: [UInt8], runtime: Runtime)? {
        for (prefix, runtime) in [("cri-containerd-", Runtime.containerd), ("crio-", .crio), ("docker-", .docker)] as [(StaticString, Runtime)] {
            guard stem.starts(with: prefix) else { continue }
            let id = UnsafeRawBufferPointer(rebasing: stem.dropFirst(prefix.utf8CodeUnitCount))
            return isContainerID(id) ? (Array(id), runtime) : nil
        }
        return nil
    }

    /// 64 lowercase hex digits: the ids containerd, CRI-O and Docker give containers.
    static func isContainerID(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count == 64 && bytes.allSatisfy(isLowerHex)
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        ASCII.isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
    }

    /// A UUID written with `separator` between its groups (8-4-4-4-12), or
    /// 32 hex digits (a static pod's UID); returned with dashes.
    public static func podUID(_ bytes: UnsafeRawBufferPointer, separator: UInt8) -> [UInt8]? {
        if bytes.count == 32 {
            return bytes.allSatisfy(isLowerHex) ? Array(bytes) : nil
        }
        guard bytes.count == 36 else { return nil }
        var uid = [UInt8](repeating: 0, count: 36)
        for (offset, byte) in bytes.enumerated() {
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard byte == separator else { return nil }
                uid[offset] = UInt8(ascii: "-")
            } else {
                guard isLowerHex(byte) else { return nil }
                uid[offset] = byte
            }
        }
        return uid
    }

    private static func lastRange(of literal: StaticString, in bytes: UnsafeRawBufferPointer) -> Range<Int>? {
        let needle = UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        guard bytes.count >= needle.count else { return nil }
        var start = bytes.count - needle.count
        while start >= 0 {
            if bytes[start..<(start + needle.count)].elementsEqual(needle) { return start..<(start + needle.count) }
            start -= 1
        }
        return nil
    }
}

/// /proc/PID/cgroup (`HIERARCHY-ID:CONTROLLERS:PATH` per line), from bytes:
/// which of the process's cgroup paths says the most. On cgroup v1 and
/// hybrid hosts the BPF cgroup id is the unified hierarchy's, often its
/// root, while kubelet's pod cgroups are in the v1 controllers' hierarchies.
public enum ProcCgroupFile {
    /// The first path that is a pod's cgroup (`PodCgroup`), else the
    /// unified hierarchy's (`0::PATH`), else name=systemd's, else the
    /// first line's; nil for text without a well-formed line.
    public static func bestPath(_ text: UnsafeRawBufferPointer) -> [UInt8]? {
        var unified: Range<Int>?
        var systemd: Range<Int>?
        var first: Range<Int>?
        var pod: Range<Int>?
        text.forEachLine { line in
            guard pod == nil, let colon = text.firstIndex(of: UInt8(ascii: ":"), in: line),
                  let second = text.firstIndex(of: UInt8(ascii: ":"), in: (colon + 1)..<line.upperBound),
                  text.decimal(line.lowerBound..<colon) != nil else { return }
            let path = (second + 1)..<line.upperBound
            guard path.count > 0, text[path.lowerBound] == UInt8(ascii: "/") else { return }
            let controllers = text.view((colon + 1)..<second)
            if first == nil { first = path }
            if text.view(line.lowerBound..<colon).equals("0") && controllers.isEmpty && unified == nil { unified = path }
            if controllers.equals("name=systemd") && systemd == nil { systemd = path }
            if PodCgroup(path: text.view(path)) != nil { pod = path }
        }
        return (pod ?? unified ?? systemd ?? first).map { Array(text.view($0)) }
    }
}

extension NodeSnapshot.ProcessEntry {
    /// The pod and container of a process the snapshot saw, from its
    /// cgroup lines (the unified one and the v1 ones, as /proc/PID/cgroup
    /// gave them); nil for a process that is in no pod.
    public var pod: PodCgroup? {
        var file = cgroup.map { "0::" + $0 + "\n" } ?? ""
        for line in cgroupV1 ?? [] { file += line + "\n" }
        return file.utf8.withContiguousStorageIfAvailable { text in
            ProcCgroupFile.bestPath(UnsafeRawBufferPointer(text)).flatMap { path in path.withUnsafeBytes { PodCgroup(path: $0) } }
        } ?? nil
    }
}
