import StoretraceDecode
import StoretraceFixtures
import StoretraceKernel
import StoretraceRecords
import StoretraceSession
import Testing

/// The pod table (cgroup id or process to pod) as the pipeline uses it, and
/// the filters that need context: --pod, --container, --path, --device.
@Suite struct PodFilterTests {
    static let uid = "7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
    static let container = "3b1f0c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
    static let podPath = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod7f3e1c2a_5b6d_4e8f_9a0b_1c2d3e4f5a6b.slice/cri-containerd-\(container).scope"
    static let otherUID = "11111111-2222-4333-8444-555555555555"
    /// cgroupfs, in a v1 hierarchy: what /proc/PID/cgroup gives on a hybrid host.
    static let otherPath = "/kubepods/burstable/pod\(otherUID)/\(String(repeating: "c", count: 64))"

    func record(_ kind: SyscallKind = .mount, cgroup: UInt64, pid: UInt32, at timestamp: UInt64,
                strings: [String?] = ["/dev/vdb", "/mnt/x", "ext4", nil], devices: (UInt32, UInt32)? = nil) -> [UInt8] {
        var builder = RecordBuilder()
        builder.kind = kind.rawValue
        builder.cgroupID = cgroup
        builder.pid = pid
        builder.tid = pid
        builder.timestamp = timestamp
        builder.strings = kind.movesData ? [] : strings
        if let (input, output) = devices { builder.detail = [11, UInt64(input), 12, UInt64(output), 0, 0] }
        return builder.bytes
    }

    /// A pipeline whose pod table resolves like a hybrid host's: cgroup id
    /// 5000 is the pod's v2 directory, 1 the unified root; process 300 is in
    /// the other pod by its v1 path; process 301 has exited.
    func makePipeline(_ filter: EventFilter = EventFilter()) -> (Pipeline, Collected, Resolutions) {
        let collected = Collected()
        let resolutions = Resolutions()
        let pipeline = Pipeline(filter: filter, consumers: [collected], merging: false)
        let pods = pipeline.decoder.pods
        pods.resolveCgroup = { id in
            resolutions.cgroupAsks.append(id)
            switch id {
            case 5000: return .path(Array(Self.podPath.utf8))
            case 1: return .path(Array("/".utf8))
            default: return .gone
            }
        }
        pods.resolveProcess = { pid in
            resolutions.processAsks.append(pid)
            switch pid {
            case 300: return Array(Self.otherPath.utf8)
            case 200: return Array("/system.slice/kubelet.service".utf8)
            default: return nil
            }
        }
        pods.onResolved = { entry, timestamp in resolutions.recorded.append((entry, timestamp)) }
        return (pipeline, collected, resolutions)
    }

    final class Resolutions {
        var cgroupAsks: [UInt64] = []
        var processAsks: [UInt32] = []
        var recorded: [(CgroupPathCodec.Entry, UInt64)] = []
    }

    @Test func eachCgroupAndProcessIsResolvedOnceAndRecordedBeforeItsEvent() {
        let (pipeline, collected, resolutions) = makePipeline()
        pipeline.submit(.syscall, record(cgroup: 5000, pid: 100, at: 10), at: 10) // the pod, by its v2 cgroup
        pipeline.submit(.syscall, record(cgroup: 5000, pid: 100, at: 11), at: 11)
        pipeline.submit(.syscall, record(cgroup: 1, pid: 200, at: 12), at: 12)    // kubelet on the host
        pipeline.submit(.syscall, record(cgroup: 1, pid: 300, at: 13), at: 13)    // the other pod, by /proc/300/cgroup
        pipeline.submit(.syscall, record(cgroup: 1, pid: 300, at: 14), at: 14)
        pipeline.submit(.syscall, record(cgroup: 1, pid: 301, at: 15), at: 15)    // exited: unresolved
        pipeline.submit(.syscall, record(cgroup: 1, pid: 301, at: 16), at: 16)
        #expect(collected.events.count == 7, "host processes and unresolved ones are shown")
        #expect(resolutions.cgroupAsks == [5000, 1])
        #expect(resolutions.processAsks == [200, 300, 301, 301], "a process not found is asked again at its next event")
        #expect(resolutions.recorded.map(\.0) == [
            .init(cgroupID: 5000, pid: 0, source: .cgroupID, path: Array(Self.podPath.utf8)),
            .init(cgroupID: 1, pid: 0, source: .cgroupID, path: Array("/".utf8)),
            .init(cgroupID: 1, pid: 200, source: .process, path: Array("/system.slice/kubelet.service".utf8)),
            .init(cgroupID: 1, pid: 300, source: .process, path: Array(Self.otherPath.utf8)),
        ])
        #expect(resolutions.recorded.map(\.1) == [10, 12, 12, 13], "stamped with the first event that needed them")
        #expect(pipeline.decoder.pods.unresolvedEvents == 2)
    }

    func pods(of pipeline: Pipeline, _ records: [[UInt8]]) -> [String?] {
        records.map { bytes in
            bytes.withUnsafeBytes { raw in
                let record = try! SyscallRecord(validating: raw)
                return pipeline.decoder.pods.pod(of: record).map { String(decoding: $0.podUID, as: UTF8.self) }
            }
        }
    }

    @Test func podAndContainerFiltersKeepThePodsProcessesAndCountTheRest() {
        var filter = EventFilter()
        filter.podUIDs = [Array(Self.uid.utf8)]
        let (pipeline, collected, _) = makePipeline(filter)
        pipeline.submit(.syscall, record(cgroup: 5000, pid: 100, at: 10), at: 10)
        pipeline.submit(.syscall, record(cgroup: 1, pid: 200, at: 11), at: 11)
        pipeline.submit(.syscall, record(cgroup: 1, pid: 300, at: 12), at: 12)
        pipeline.submit(.uevent, uevent(subsystem: "block", sequence: 1), at: 13)
        #expect(collected.events.map(\.timestamp) == [10])
        #expect(pipeline.counts.filteredOut == 3)

        var byContainer = EventFilter()
        byContainer.containerPrefixes = [Array("cccccccc".utf8)]
        let (second, kept, _) = makePipeline(byContainer)
        second.submit(.syscall, record(cgroup: 5000, pid: 100, at: 10), at: 10)
        second.submit(.syscall, record(cgroup: 1, pid: 300, at: 12), at: 12)
        #expect(kept.events.map(\.timestamp) == [12])
        #expect(second.counts.filteredOut == 1)
    }

    @Test func replayFillsTheTableFromTheCapturesRecords() {
        let pipeline = Pipeline(filter: EventFilter(), consumers: [], merging: false)
        let pods = pipeline.decoder.pods
        #expect(!pods.isActive, "a capture without cgroup records: nothing to look up")
        pods.insert(.init(cgroupID: 5000, pid: 0, source: .cgroupID, path: Array(Self.podPath.utf8)))
        pods.insert(.init(cgroupID: 1, pid: 300, source: .process, path: Array(Self.otherPath.utf8)))
        #expect(pods.isActive)
        #expect(self.pods(of: pipeline, [record(cgroup: 5000, pid: 100, at: 1), record(cgroup: 1, pid: 300, at: 2),
                                         record(cgroup: 1, pid: 301, at: 3), record(cgroup: 77, pid: 100, at: 4)])
                == [Self.uid, Self.otherUID, nil, nil])
        #expect(pods.unresolvedEvents == 0, "replay knows what the capture knew; nothing is unresolved")
    }

    @Test func pathPrefixIsWholeComponents() {
        var filter = EventFilter()
        filter.pathPrefixes = [Array("/var/lib/kubelet".utf8)]
        let collected = Collected()
        let pipeline = Pipeline(filter: filter, consumers: [collected], merging: false)
        pipeline.submit(.syscall, record(cgroup: 1, pid: 1, at: 1, strings: ["/src", "/var/lib/kubelet/pods/p/volumes/v/mount", "none", nil]), at: 1)
        pipeline.submit(.syscall, record(cgroup: 1, pid: 1, at: 2, strings: ["/var/lib/kubelet", "/mnt/x", "none", nil]), at: 2)
        pipeline.submit(.syscall, record(cgroup: 1, pid: 1, at: 3, strings: ["/src", "/var/lib/kubelet2/x", "none", nil]), at: 3)
        pipeline.submit(.syscall, record(.umount, cgroup: 1, pid: 1, at: 4, strings: ["/var/lib/kube"]), at: 4)
        pipeline.submit(.kmsg, kmsg("EXT4-fs (vdb): mounted"), at: 5)
        #expect(collected.events.map(\.timestamp) == [1, 2])
        #expect(pipeline.counts.filteredOut == 3)
    }

    @Test func deviceByNameOrNumberAndItsPartitions() {
        var snapshot = NodeSnapshot(takenAt: .init(monotonicNanoseconds: 5, realtimeNanoseconds: 6),
                                    clockOffsets: .init(realtimeMinusMonotonic: 1))
        snapshot.blockDevices = [.init(name: "vdb", major: 254, minor: 16, sizeBytes: 1 << 30),
                                 .init(name: "vdb1", parent: "vdb", major: 254, minor: 17, sizeBytes: 1 << 29),
                                 .init(name: "vdc", major: 254, minor: 32, sizeBytes: 1 << 30)]
        snapshot.mountNamespaces = [.init(inode: 4_026_531_832, processCount: 0, mounts: [
            NodeSnapshot.Mount(mountID: 40, parentID: 1, major: 254, minor: 17, root: "/", mountPoint: "/data",
                               options: "rw", fstype: "ext4", source: "/dev/vdb1", superOptions: "rw")], isHost: true)]
        let json = Array(snapshot.jsonText(.compact).utf8)
        for selector in [DeviceSelector.name(Array("vdb".utf8)), .number(major: 254, minor: 16)] {
            var filter = EventFilter()
            filter.devices = [selector]
            let collected = Collected()
            let pipeline = Pipeline(filter: filter, consumers: [collected], merging: false)
            pipeline.updateDevices(DeviceTable(try! NodeSnapshot(json: json)), json: json, timestamp: 0)
            // A copy between files on vdb1 and vdc (kernel dev_t: major << 20 | minor).
            pipeline.submit(.syscall, record(.copyFileRange, cgroup: 1, pid: 1, at: 1, devices: (254 << 20 | 17, 254 << 20 | 32)), at: 1)
            pipeline.submit(.syscall, record(.copyFileRange, cgroup: 1, pid: 1, at: 2, devices: (254 << 20 | 32, 254 << 20 | 32)), at: 2)
            pipeline.submit(.syscall, record(cgroup: 1, pid: 1, at: 3, strings: ["/dev/vdb1", "/data", "ext4", nil]), at: 3)
            pipeline.submit(.syscall, record(.umount, cgroup: 1, pid: 1, at: 4, strings: ["/data"]), at: 4)
            pipeline.submit(.syscall, record(cgroup: 1, pid: 1, at: 5, strings: ["/dev/vdc", "/mnt/c", "ext4", nil]), at: 5)
            pipeline.submit(.kmsg, kmsg("EXT4-fs (vdb1): mounted filesystem"), at: 6)
            pipeline.submit(.kmsg, kmsg("EXT4-fs (vdc): mounted filesystem"), at: 7)
            #expect(collected.events.map(\.timestamp) == [1, 3, 4, 6], "\(selector)")
            #expect(pipeline.counts.filteredOut == 3)
        }
    }

    @Test func deviceSelectorsParseOrSayWhy() throws {
        #expect(try DeviceSelector.parse("/dev/nvme0n1p1").get() == .name(Array("nvme0n1p1".utf8)))
        #expect(try DeviceSelector.parse("7:0").get() == .number(major: 7, minor: 0))
        for bad in ["", "/dev/", "7:", "x:1", "7:0:1", "a/b", "4096:0"] {
            guard case .failure(let error) = DeviceSelector.parse(bad) else {
                Issue.record("\(bad) parsed")
                continue
            }
            #expect(!error.why.isEmpty && !error.why.contains("\n"))
        }
    }
}
