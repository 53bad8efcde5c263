import Glibc

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
    /// Where kubelet keeps the volume's `vol_data.json`: the path up to the
    /// parent of `mount` (a CSI pod publish) or `globalmount` (staging);
    /// nil for the other roles.
    public let volumeDirectory: UnsafeRawBufferPointer?

    /// Kubelet's `--root-dir` default.
    public static let defaultRoot = "/var/lib/kubelet"

    /// nil for a path that is not one of kubelet's volume paths. With
    /// `root` (`--kubelet-root`, without a trailing slash), only paths under
    /// it are read, whatever its last component is called; without, the
    /// root is found from the path's shape.
    public init?(_ path: UnsafeRawBufferPointer, root: UnsafeRawBufferPointer? = nil) {
        var skip = 0
        if let root, root.count > 0 {
            guard path.count > root.count + 1, path[root.count] == UInt8(ascii: "/"),
                  memcmp(path.baseAddress!, root.baseAddress!, root.count) == 0 else { return nil }
            skip = root.count
        }
        // At most 64 components are looked at; kubelet's paths need far fewer.
        let parsed: KubeletPath? = withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: 64) { parts in
            var count = 0
            var start = skip
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
            let r: Int
            if skip > 0 {
                r = 0 // the first component after the configured root
                guard part(0, is: "pods") || part(0, is: "plugins") else { return nil }
            } else {
                var found = -1
                for index in 0..<count where part(index, is: "kubelet") && (part(index + 1, is: "pods") || part(index + 1, is: "plugins")) {
                    found = index
                }
                guard found >= 0 else { return nil }
                r = found + 1
            }
            if part(r, is: "pods") {
                guard let pod = part(r + 1) else { return nil }
                if part(r + 2, is: "volumes"), let plugin = part(r + 3), let name = part(r + 4) {
                    let csi = plugin.equals("kubernetes.io~csi")
                    return KubeletPath(role: csi ? .podPublish : .podVolume, podUID: pod, volume: name, csiDriver: nil, plugin: plugin,
                                       volumeDirectory: csi ? path.view(0..<parts[r + 4].upperBound) : nil)
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
                return KubeletPath(role: .staging, podUID: nil, volume: pv, csiDriver: nil, plugin: nil,
                                   volumeDirectory: path.view(0..<parts[r + 4].upperBound))
            }
            if part(r + 5, is: "globalmount") {
                return KubeletPath(role: .staging, podUID: nil, volume: nil, csiDriver: first, plugin: nil,
                                   volumeDirectory: path.view(0..<parts[r + 4].upperBound))
            }
            return nil
        }
        guard let parsed else { return nil }
        self = parsed
    }

    /// `path` read under `root` (`--kubelet-root`) if set, else by its shape.
    @inline(__always)
    public static func read(_ path: UnsafeRawBufferPointer, under root: [UInt8]?) -> KubeletPath? {
        guard let root else { return KubeletPath(path) }
        return root.withUnsafeBytes { KubeletPath(path, root: $0) }
    }

    init(role: Role, podUID: UnsafeRawBufferPointer?, volume: UnsafeRawBufferPointer?,
         csiDriver: UnsafeRawBufferPointer?, plugin: UnsafeRawBufferPointer?, volumeDirectory: UnsafeRawBufferPointer? = nil) {
        self.volumeDirectory = volumeDirectory
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
    public var kubeletPath: KubeletPath? { kubeletPath(root: nil) }

    /// Under `root` (`--kubelet-root`) if set, else found from the path's shape.
    @inline(__always)
    public func kubeletPath(under root: [UInt8]?) -> KubeletPath? {
        guard let root else { return kubeletPath }
        return root.withUnsafeBytes { kubeletPath(root: $0) }
    }


    /// As `kubeletPath`, under a kubelet root set with `--kubelet-root`.
    public func kubeletPath(root: UnsafeRawBufferPointer?) -> KubeletPath? {
        let slot: Int
        switch kind {
        case .mount, .moveMount: slot = 1
        case .umount, .rmdir, .unlinkat, .openTree, .fspick, .mountSetattr: slot = 0
        default: return nil
        }
        return string(slot).flatMap { KubeletPath($0, root: root) }
    }
}

extension NodeSnapshot.KubeletVolume {
    /// Kubelet's `vol_data.json`: one JSON object of strings, as kubelet's
    /// CSI plugin writes it (`specVolumeID`, `volumeHandle`, `driverName`,
    /// and `nodeName`, `attachmentID`, `volumeLifecycleMode` that are not
    /// kept). nil for anything else, or an object naming none of the three.
    public init?(volData bytes: UnsafeRawBufferPointer, directory: String) {
        guard let value = try? JSONValue.parse(Array(bytes)), case .object = value else { return nil }
        let driver = value["driverName"]?.stringValue, handle = value["volumeHandle"]?.stringValue
        let spec = value["specVolumeID"]?.stringValue
        guard driver != nil || handle != nil || spec != nil else { return nil }
        self.init(directory: directory, driver: driver, volumeHandle: handle, specName: spec)
    }
}

/// The snapshot's `vol_data.json` records by directory, to complete what a
/// kubelet path cannot say: the PV and volume handle of a hashed staging
/// path, the driver of a pod's volume. A lookup is a binary search over
/// bytes: nothing is allocated per event.
public struct KubeletVolumeTable: Sendable {
    private let directories: [[UInt8]]
    private let volumes: [NodeSnapshot.KubeletVolume]

    public static let empty = KubeletVolumeTable([])

    public init(_ volumes: [NodeSnapshot.KubeletVolume]) {
        let sorted = volumes.map { (Array($0.directory.utf8), $0) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }
        directories = sorted.map(\.0)
        self.volumes = sorted.map(\.1)
    }

    public var isEmpty: Bool { volumes.isEmpty }

    /// The volume whose vol_data.json is in `directory`.
    public func volume(directory: UnsafeRawBufferPointer) -> NodeSnapshot.KubeletVolume? {
        var low = 0, high = directories.count
        while low < high {
            let middle = (low + high) / 2
            let order = directories[middle].withUnsafeBytes { Self.compare($0, directory) }
            if order == 0 { return volumes[middle] }
            if order < 0 { low = middle + 1 } else { high = middle }
        }
        return nil
    }

    /// memcmp order, a prefix first (as `lexicographicallyPrecedes`).
    private static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let common = min(a.count, b.count)
        if common > 0 {
            let order = memcmp(a.baseAddress!, b.baseAddress!, common)
            if order != 0 { return Int(order) }
        }
        return a.count - b.count
    }
}
