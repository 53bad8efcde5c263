import CStoretraceSys
import Foundation
import Glibc
import StoretraceDecode
import StoretraceKernel
import StoretraceRender
import Testing

/// Runs a command to completion and returns its standard output, trimmed.
/// Throws when it cannot start or exits non-zero.
@discardableResult
func runCommand(_ path: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw SyscallFailed(description: "\(path) \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
    }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

fileprivate func sysfsValue(_ path: String) throws -> String {
    try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
}

extension KernelTests {
    @Suite struct NodeSnapshotTests {
        @Test func thisProcessAndHostAreInTheSnapshot() throws {
            let started = ContinuousClock.now
            let snapshot = NodeSnapshot.take()
            let elapsed = ContinuousClock.now - started
            print("NodeSnapshot.take: \(elapsed) for \(snapshot.processes.count) processes, "
                + "\(snapshot.mountNamespaces.count) namespaces, \(snapshot.blockDevices.count) block devices")
            #expect(elapsed < .seconds(2), "a snapshot must stay well under a second on a small node")

            let me = try #require(snapshot.processes.first { $0.pid == getpid() })
            #expect(me.comm == (try sysfsValue("/proc/self/comm")))
            #expect(me.mountNamespace == UInt64(try selfMountNamespace()))
            #expect(me.ppid == getppid())
            #expect(me.uid == getuid())
            #expect(me.cgroup != nil || me.cgroupV1 != nil)
            #expect(snapshot.processes.contains { $0.pid == 1 })
            #expect(snapshot.processes.map(\.pid) == snapshot.processes.map(\.pid).sorted())

            // The initial namespace is `host`, first, and stood for by a real
            // process: never kthreadd or another kernel thread.
            let initial = try #require(snapshot.mountNamespaces.first)
            #expect(initial.isHost)
            #expect(initial.inode == initialMountNamespaceInode)
            #expect(snapshot.mountNamespaces.filter(\.isHost).count == 1)
            let hostOwner = try #require(snapshot.processes.first { $0.pid == initial.ownerPID })
            #expect(hostOwner.kernelThread == false)
            #expect(snapshot.processes.first { $0.pid == 2 }?.kernelThread == true)
            #expect(initial.ownerPID == snapshot.processes.first { $0.mountNamespace == initial.inode && $0.kernelThread == false }?.pid)

            let namespace = try #require(snapshot.mountNamespaces.first { $0.inode == me.mountNamespace })
            #expect(namespace.processCount == snapshot.processes.filter { $0.mountNamespace == me.mountNamespace }.count)
            let root = try #require(namespace.mounts?.first { $0.mountPoint == "/" })
            var rootStat = stat()
            #expect(stat("/", &rootStat) == 0)
            #expect(root.major == st_dev_major(UInt64(rootStat.st_dev)))
            #expect(root.minor == st_dev_minor(UInt64(rootStat.st_dev)))
            #expect(namespace.mounts?.count == (try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8))
                .split(separator: "\n").count)

            var names = utsname()
            uname(&names)
            let release = withUnsafeBytes(of: &names.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            #expect(snapshot.kernelRelease == release)
            #expect(snapshot.bootID == (try sysfsValue("/proc/sys/kernel/random/boot_id")))
            var host = [CChar](repeating: 0, count: 256)
            gethostname(&host, host.count)
            #expect(snapshot.hostname == String(cString: host))
            #expect(snapshot.onlineCPUs == sysconf(Int32(_SC_NPROCESSORS_ONLN)))
            let offset = KernelClock.measureOffset().realtimeMinusMonotonic
            #expect(abs(snapshot.clockOffsets.realtimeMinusMonotonic - offset) < 5_000_000)
            #expect(snapshot.clockOffsets.boottimeMinusMonotonic.map { $0 >= 0 } == true)
            let now = KernelClock.now(CLOCK_MONOTONIC)
            #expect(snapshot.takenAt.monotonicNanoseconds <= now && now - snapshot.takenAt.monotonicNanoseconds < 10_000_000_000)

            // Every PCI storage function is class 0x01, and a block device's
            // PCI driver matches the bound driver of its function.
            #expect(snapshot.pciFunctions.allSatisfy { $0.pciClass?.hasPrefix("0x01") == true })
            for device in snapshot.blockDevices {
                guard let address = device.pciAddress else { continue }
                let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/sys/bus/pci/devices/\(address)/driver")
                #expect(device.pciDriver == link.map { ($0 as NSString).lastPathComponent })
            }

            // What was taken survives its own JSON exactly.
            #expect(try NodeSnapshot(json: snapshot.jsonText()) == snapshot)
        }

        @Test func privateMountNamespaceHasItsOwnMountTable() throws {
            let scratch = Scratch()
            let target = scratch.dir("ns-only")
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            // unshare execs sh, which execs sleep: one pid, in the new namespace.
            child.arguments = ["-m", "--propagation", "private", "/bin/sh", "-c",
                               "mount -t tmpfs storetrace-snap \(target) && exec sleep 5"]
            try child.run()
            let pid = child.processIdentifier
            defer {
                kill(pid, SIGKILL)
                child.waitUntilExit()
            }
            // Wait until the child is sleeping with its mount in place.
            var ready = false
            for _ in 0..<200 {
                if (try? sysfsValue("/proc/\(pid)/comm")) == "sleep" { ready = true; break }
                usleep(10_000)
            }
            try #require(ready, "unshare did not reach sleep")

            let snapshot = NodeSnapshot.take()
            let ours = UInt64(try selfMountNamespace())
            let entry = try #require(snapshot.processes.first { $0.pid == pid })
            let theirs = try #require(entry.mountNamespace)
            #expect(theirs != ours)
            let namespace = try #require(snapshot.mountNamespaces.first { $0.inode == theirs })
            #expect(namespace.processCount == 1)
            #expect(namespace.ownerPID == pid)
            #expect(namespace.ownerComm == "sleep")
            #expect(namespace.mountinfoPID == pid)
            let mounts = try #require(namespace.mounts)
            let mount = try #require(mounts.first { $0.mountPoint == target })
            #expect(mount.fstype == "tmpfs")
            #expect(mount.source == "storetrace-snap")
            #expect(mount.optionalFields.isEmpty, "--propagation private: no shared/master tags")
            #expect(mounts.contains { $0.mountPoint == "/" })

            let ownNamespace = try #require(snapshot.mountNamespaces.first { $0.inode == ours })
            #expect(ownNamespace.mounts?.contains { $0.mountPoint == target } == false)

            let index = NodeSnapshotIndex(snapshot)
            #expect(index.owner(mountNamespace: theirs) == .init(pid: pid, comm: "sleep"))
            #expect(index.pids(inMountNamespace: theirs) == [pid])
            #expect(index.comm(pid: pid) == "sleep")
            #expect(SnapshotRendererCheck.mentions(snapshot, "mnt:\(theirs)  owner \(pid) (sleep)"))
            #expect(!namespace.isHost)
            // `info --snapshot` lists who is in a non-host namespace.
            #expect(SnapshotRendererCheck.mentions(snapshot, "COMM   CGROUP\n  \(pid)  "))
        }

        @Test func attachedLoopDeviceIsListedWithItsSettings() throws {
            let scratch = Scratch()
            let image = scratch.path + "/disk.img"
            let size = 12 << 20
            let fd = try check(open(image, O_CREAT | O_RDWR | O_CLOEXEC, 0o600), "create \(image)")
            try check(ftruncate(fd, size), "ftruncate")
            close(fd)
            let device = try runCommand("/usr/sbin/losetup", ["-f", "--show", image]) // "/dev/loop3"
            defer { _ = try? runCommand("/usr/sbin/losetup", ["-d", device]) }
            let name = String(device.dropFirst("/dev/".count))
            // A value no default has, so a stale or hard-coded read cannot pass.
            try "384".write(toFile: "/sys/block/\(name)/queue/read_ahead_kb", atomically: false, encoding: .utf8)

            let snapshot = NodeSnapshot.take()
            let loop = try #require(snapshot.blockDevices.first { $0.name == name })
            #expect(loop.major == 7)
            #expect(loop.minor.map(String.init) == (try sysfsValue("/sys/block/\(name)/dev")).split(separator: ":").last.map(String.init))
            #expect(loop.sizeBytes == UInt64(size))
            #expect(loop.readAheadKB == 384)
            #expect(loop.readAheadKB.map(String.init) == (try sysfsValue("/sys/block/\(name)/queue/read_ahead_kb")))
            #expect(loop.loopBackingFile == image)
            #expect(loop.rotational.map { $0 ? "1" : "0" } == (try sysfsValue("/sys/block/\(name)/queue/rotational")))
            #expect(loop.scheduler != nil)
            #expect(loop.pciAddress == nil)
            #expect(loop.parent == nil)

            let index = NodeSnapshotIndex(snapshot)
            #expect(index.blockDevice(major: 7, minor: loop.minor!)?.name == name)
        }

        @Test func processesExitingDuringTheScanAreSkipped() throws {
            // A shell forking short-lived processes as fast as it can, so
            // pids vanish between readdir and the reads.
            let churn = Process()
            churn.executableURL = URL(fileURLWithPath: "/bin/sh")
            churn.arguments = ["-c", "while :; do /bin/true; done"]
            try churn.run()
            defer {
                kill(churn.processIdentifier, SIGKILL)
                churn.waitUntilExit()
            }
            for _ in 0..<20 {
                let snapshot = NodeSnapshot.take()
                #expect(snapshot.processes.contains { $0.pid == getpid() })
                #expect(snapshot.processes.contains { $0.pid == churn.processIdentifier })
                #expect(Set(snapshot.processes.map(\.pid)).count == snapshot.processes.count)
                for namespace in snapshot.mountNamespaces {
                    #expect(namespace.processCount > 0)
                }
            }
        }

        @Test func limitsAreCountedNotSilent() throws {
            var limits = NodeSnapshotLimits()
            limits.maxProcesses = 3
            limits.maxMountsPerNamespace = 2
            let snapshot = NodeSnapshot.take(limits: limits)
            #expect(snapshot.processes.count == 3)
            #expect(snapshot.omitted.processesOverLimit > 0)
            let first = try #require(snapshot.mountNamespaces.first)
            #expect(first.mounts?.count == 2)
            #expect(first.mountsOverLimit > 0)

            limits = NodeSnapshotLimits()
            limits.maxMountinfoBytes = 100 // cuts the first line or two
            let cut = NodeSnapshot.take(limits: limits)
            let namespace = try #require(cut.mountNamespaces.first)
            #expect(namespace.mountsOverLimit >= 1)
            #expect(namespace.malformedLines == 0, "a line cut at the byte cap is not malformed")
        }
    }
}

/// Renders a real snapshot and looks for a fragment: the renderer must cope
/// with whatever a live node holds.
fileprivate enum SnapshotRendererCheck {
    static func mentions(_ snapshot: NodeSnapshot, _ fragment: String) -> Bool {
        SnapshotRenderer.render(snapshot).contains(fragment)
    }
}
