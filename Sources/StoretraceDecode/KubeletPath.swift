// What a kubelet-managed path says about Kubernetes: the pod, the volume,
// the CSI driver, and the path's role in kubelet's volume layout. The root is
// found from the path's shape (the last component named `kubelet` followed by
// `pods` or `plugins`), so /var/lib/kubelet and /home/t4/kubernetes/lib/kubelet
// both work. Views into the path; nothing is allocated.
//
//   ROOT/pods/UID/volumes/kubernetes.io~csi/PV/mount           pod publish
//   ROOT/pods/UID/volumes/PLUGIN/NAME                          pod volume (other plugins)
//   ROOT/pods/UID/volumeDevices/kubernetes.io~csi/PV            pod block device
//   ROOT/plugins/kubernetes.io/csi/DRIVER/SHA256/globalmount    staging (Kubernetes 1.24+)
//   ROOT/plugins/kubernetes.io/csi/pv/PV/globalmount           staging (older kubelets)
//   ROOT/plugins/kubernetes.io/csi/volumeDevices/staging/PV    block staging
//   ROOT/plugins/kubernetes.io/csi/volumeDevices/publish/PV/UID  block publish
//   ROOT/plugins/kubernetes.io/csi/volumeDevices/PV/dev/UID    block global map

public struct KubeletPath {
    public enum Role: Equatable, Sendable {
        case podPublish, podVolume, podBlockDevice, staging, blockStaging, blockPublish, blockGlobalMap

        /// As docs/events.md names it (`k8s.role`).
        public var name: StaticString {
            switch self {
            case .podPublish: "pod-publish"
            case .podVolume: "pod-volume"
            case .podBlockDevice: "pod-block-device"
            case .staging: "staging"
            case .blockStaging: "block-staging"
            case .blockPublish: "block-publish"
            case .blockGlobalMap: "block-global-map"
            }
        }
    }

    public let role: Role
    public let podUID: UnsafeRawBufferPointer?
    /// The PV (spec) name, or the volume's name for other plugins.
    public let volume: UnsafeRawBufferPointer?
    /// The CSI driver, where the path names it (a staging globalmount).
    public let csiDriver: UnsafeRawBufferPointer?
    /// The volume plugin directory (`kubernetes.io~csi`, `kubernetes.io~empty-dir`).
    public let plugin: UnsafeRawBufferPointer?

    /// nil for a path that is not one of kubelet's volume paths.
    public init?(_ path: UnsafeRawBufferPointer) {
        // At most 64 components are looked at; kubelet's paths need far fewer.
        let parsed: KubeletPath? = withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: 64) { parts in
            var count = 0
            var start = 0
            while start < path.count, count < parts.count {
                let end = path.firstIndex(of: UInt8(ascii: "/"), in: start..<path.count) ?? path.count
                if end > start {
                    parts[count] = start..<end
                    count += 1
                }
                start = end + 1
            }
            func part(_ index: Int) -> UnsafeRawBufferPointer? {
                index < count ? path.view(parts[index]) : nil
            }
            func part(_ index: Int, is literal: StaticString) -> Bool { part(index)?.equals(literal) == true }
            var root = -1
            for index in 0..<count where part(index, is: "kubelet") && (part(index + 1, is: "pods") || part(index + 1, is: "plugins")) {
                root = index
            }
            guard root >= 0 else { return nil }
            let r = root + 1
            if part(r, is: "pods") {
                guard let pod = part(r + 1) else { return nil }
                if part(r + 2, is: "volumes"), let plugin = part(r + 3), let name = part(r + 4) {
                    let csi = plugin.equals("kubernetes.io~csi")
                    return KubeletPath(role: csi ? .podPublish : .podVolume, podUID: pod, volume: name, csiDriver: nil, plugin: plugin)
                }
                if part(r + 2, is: "volumeDevices"), let plugin = part(r + 3), let name = part(r + 4) {
                    return KubeletPath(role: .podBlockDevice, podUID: pod, volume: name, csiDriver: nil, plugin: plugin)
                }
                return nil
            }
            // plugins/kubernetes.io/csi/...
            guard part(r + 1, is: "kubernetes.io"), part(r + 2, is: "csi"), let first = part(r + 3) else { return nil }
            if first.equals("volumeDevices") {
                if part(r + 4, is: "staging"), let pv = part(r + 5) {
                    return KubeletPath(role: .blockStaging, podUID: nil, volume: pv, csiDriver: nil, plugin: nil)
                }
                if part(r + 4, is: "publish"), let pv = part(r + 5) {
                    return KubeletPath(role: .blockPublish, podUID: part(r + 6), volume: pv, csiDriver: nil, plugin: nil)
                }
                if let pv = part(r + 4), part(r + 5, is: "dev") {
                    return KubeletPath(role: .blockGlobalMap, podUID: part(r + 6), volume: pv, csiDriver: nil, plugin: nil)
                }
                return nil
            }
            if first.equals("pv"), let pv = part(r + 4), part(r + 5, is: "globalmount") {
                return KubeletPath(role: .staging, podUID: nil, volume: pv, csiDriver: nil, plugin: nil)
            }
            if part(r + 5, is: "globalmount") {
                return KubeletPath(role: .staging, podUID: nil, volume: nil, csiDriver: first, plugin: nil)
            }
            return nil
        }
        guard let parsed else { return nil }
        self = parsed
    }

    init(role: Role, podUID: UnsafeRawBufferPointer?, volume: UnsafeRawBufferPointer?,
         csiDriver: UnsafeRawBufferPointer?, plugin: UnsafeRawBufferPointer?) {
        self.role = role
        self.podUID = podUID
        self.volume = volume
        self.csiDriver = csiDriver
        self.plugin = plugin
    }
}

extension SyscallRecord {
    /// The path a mount-family call or directory removal acts on, read as a
    /// kubelet path: the target of mount and move_mount, the path of the
    /// others; nil for copies and paths that are not kubelet's.
    public var kubeletPath: KubeletPath? {
        let slot: Int
        switch kind {
        case .mount, .moveMount: slot = 1
        case .umount, .rmdir, .unlinkat, .openTree, .fspick, .mountSetattr: slot = 0
        default: return nil
        }
        return string(slot).flatMap { KubeletPath($0) }
    }
}
