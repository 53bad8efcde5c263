import CStoretraceSys
import Glibc
import StoretraceDecode

extension NodeSnapshot {
    /// Kubelet's `vol_data.json` of every CSI volume under `root`, for the
    /// snapshot (taken with it, off the per-event path): beside each pod
    /// volume's `mount` (`pods/UID/volumes/kubernetes.io~csi/PV/`), each
    /// staging `globalmount` (`plugins/kubernetes.io/csi/DRIVER/SHA256/`,
    /// older kubelets `.../csi/pv/PV/`) and each block volume's data
    /// directory (`plugins/kubernetes.io/csi/volumeDevices/PV/data/`).
    /// nil when `root` has neither `pods` nor `plugins` (no kubelet here).
    /// Bounded: at most `limit` files of at most `maxSmallFileBytes` each;
    /// `omitted` says how many more there were.
    static func scanKubeletVolumes(root: String, reader: inout SnapshotFileReader,
                                   limit: Int) -> (volumes: [KubeletVolume], omitted: Int)? {
        let pods = root + "/pods", csi = root + "/plugins/kubernetes.io/csi"
        var st = stat()
        guard stat(pods, &st) == 0 || stat(csi, &st) == 0 else { return nil }
        var directories: [String] = []
        for pod in directoryEntries(of: pods).sorted() {
            let plugin = pods + "/" + pod + "/volumes/kubernetes.io~csi"
            for volume in directoryEntries(of: plugin).sorted() { directories.append(plugin + "/" + volume) }
        }
        for driver in directoryEntries(of: csi).sorted() {
            let base = csi + "/" + driver
            for volume in directoryEntries(of: base).sorted() {
                directories.append(driver == "volumeDevices" ? base + "/" + volume + "/data" : base + "/" + volume)
            }
        }
        var volumes: [KubeletVolume] = []
        var omitted = 0
        for directory in directories {
            guard let volume = reader.withContents(directory + "/vol_data.json", { bytes, cut in
                cut ? nil : KubeletVolume(volData: bytes, directory: directory)
            }) ?? nil else { continue }
            if volumes.count >= limit {
                omitted += 1
                continue
            }
            volumes.append(volume)
        }
        return (volumes, omitted)
    }

    /// The vol_data.json records alone (`live`, which takes no full snapshot).
    public static func takeKubeletVolumes(root: String, limits: NodeSnapshotLimits = NodeSnapshotLimits()) -> [KubeletVolume] {
        var reader = SnapshotFileReader(maxSmallFileBytes: limits.maxSmallFileBytes)
        return scanKubeletVolumes(root: root, reader: &reader, limit: limits.maxKubeletVolumes)?.volumes ?? []
    }

    /// adjtimex(2) reading only: is the wall clock synchronized, how far off may it be.
    static func readClockSync() -> ClockSync? {
        var synchronized: Int32 = 0
        var maxError = 0, estimatedError = 0
        guard st_clock_sync(&synchronized, &maxError, &estimatedError) == 0 else { return nil }
        return ClockSync(synchronized: synchronized != 0, maxErrorMicroseconds: Int64(maxError),
                         estimatedErrorMicroseconds: Int64(estimatedError))
    }
}
