import CStoretraceSys
import Foundation
import Glibc
import StoretraceDecode
import StoretraceKernel
import StoretraceRender
import Testing

/// One incident built for real: mounts under a scratch directory, child
/// processes, loop devices. Everything is undone at deinit, in the order
/// that lets it go (children, then loop devices, then the mounts, which
/// `Scratch` detaches), even when the test failed half-way.
final class BusyNode {
    let scratch = Scratch()
    private var children: [Process] = []
    private var loops: [String] = []

    var path: String { scratch.path }

    /// A tmpfs `D` under a shared bind mount `S` (peer group in `peerGroup`).
    func sharedTmpfs() throws -> (shared: String, busy: String) {
        let shared = scratch.dir("S")
        try check(mount(shared, shared, nil, UInt(MS_BIND), nil), "bind \(shared)")
        try check(mount(nil, shared, nil, UInt(MS_SHARED), nil), "make-shared \(shared)")
        let busy = shared + "/D"
        mkdir(busy, 0o755)
        try check(mount("storetrace-busy", busy, "tmpfs", 0, "size=16m"), "mount tmpfs \(busy)")
        return (shared, busy)
    }

    /// The field note: `D` of `sharedTmpfs` held by a `sleep` whose cwd is in
    /// it, in a mount namespace of its own (`unshare -m`), so that it holds
    /// the peer copy there: umount2 of `D` fails with EBUSY.
    func heldInAnotherNamespace() throws -> (busy: String, peerGroup: Int, holder: Int32, namespace: UInt64) {
        let (_, busy) = try sharedTmpfs()
        let group = try #require(try mountEntry(busy).peerGroup)
        let pid = try sleeper("cd \(busy) && exec sleep 60", via: ["/usr/bin/unshare", "-m", "--propagation", "unchanged"])
        return (busy, group, pid, try mountNamespace(of: pid))
    }

    /// Starts a child and waits until `ready` holds (its comm, a file it writes).
    @discardableResult
    func spawn(_ arguments: [String], ready: (Int32) -> Bool) throws -> Int32 {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: arguments[0])
        child.arguments = Array(arguments.dropFirst())
        try child.run()
        children.append(child)
        let pid = child.processIdentifier
        for _ in 0..<500 {
            if ready(pid) { return pid }
            guard child.isRunning else { break }
            usleep(10_000)
        }
        throw SyscallFailed(description: "\(arguments.joined(separator: " ")) did not get ready")
    }

    /// `sh -c script` (which ends in `exec sleep`) until its comm is "sleep".
    @discardableResult
    func sleeper(_ script: String, via prefix: [String] = []) throws -> Int32 {
        try spawn(prefix + ["/bin/sh", "-c", script]) { comm(of: $0) == "sleep" }
    }

    /// A python3 program that touches `marker` once it holds what it should.
    @discardableResult
    func python(_ program: String) throws -> Int32 {
        let marker = path + "/ready-\(children.count)"
        return try spawn(["/usr/bin/python3", "-c", program.replacingOccurrences(of: "MARKER", with: marker)]) { _ in
            access(marker, F_OK) == 0
        }
    }

    func loopDevice(backedBy file: String, megabytes: Int = 16, ext4: Bool = false) throws -> String {
        let fd = try check(open(file, O_CREAT | O_RDWR | O_CLOEXEC, 0o600), "create \(file)")
        try check(ftruncate(fd, off_t(megabytes << 20)), "ftruncate")
        close(fd)
        if ext4 { try runCommand("/sbin/mkfs.ext4", ["-q", "-F", file]) }
        let device = try runCommand("/usr/sbin/losetup", ["-f", "--show", file])
        loops.append(device)
        return device
    }

    deinit {
        for child in children where child.isRunning {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }
        for device in loops { _ = try? runCommand("/usr/sbin/losetup", ["-d", device]) }
    }
}

func comm(of pid: Int32) -> String? {
    (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines)
}

/// Inode of a process's mount namespace.
func mountNamespace(of pid: Int32) throws -> UInt64 {
    let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt")
    return try #require(SnapshotText.namespaceInode(link: link[...]))
}

/// The mount at `mountPoint` as `pid` sees it.
func mountEntry(_ mountPoint: String, pid: Int32 = getpid()) throws -> NodeSnapshot.Mount {
    let text = try String(contentsOfFile: "/proc/\(pid)/mountinfo", encoding: .utf8)
    let mounts = text.split(separator: "\n").compactMap { SnapshotText.mount(mountinfoLine: $0) }
    return try #require(mounts.last { $0.mountPoint == mountPoint }, "\(mountPoint) not mounted for \(pid)")
}

/// The pids `fuser -m` names for a target (psmisc; the names on stdout).
func fuserPIDs(_ target: String) throws -> Set<Int32> {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/fuser")
    process.arguments = ["-m", target]
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    // "1234 5678c": pids, each with access letters after it.
    return Set(String(decoding: data, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        .compactMap { Int32($0.prefix { $0.isNumber }) })
}

let hostNamespace = (try? mountNamespace(of: getpid())) ?? 0

extension KernelTests {
    @Suite struct HolderScanTests {
        @Test func cwdInAPeerNamespaceCopyMakesUmountAndRmdirBusy() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            let target = try mountEntry(busy)
            let group = try #require(target.peerGroup, "D under a shared mount is shared")
            let pid = try node.sleeper("cd \(busy) && exec sleep 60", via: ["/usr/bin/unshare", "-m", "--propagation", "unchanged"])
            let theirs = try mountNamespace(of: pid)
            #expect(theirs != hostNamespace)
            let copy = try mountEntry(busy, pid: pid)
            #expect(copy.peerGroup == group)

            #expect(umount2(busy, 0) == -1 && errno == EBUSY)
            #expect(umount2(busy, 0) == -1 && errno == EBUSY)
            #expect(rmdir(busy) == -1 && errno == EBUSY)

            let report = try HolderScan.run(.path(busy), options: .interactive)
            #expect(report.target.kind == .path)
            #expect(report.target.mountID == target.mountID)
            #expect(report.target.mountNamespace == hostNamespace)
            #expect(report.target.peerGroup == group)
            #expect(report.holders == [
                .init(how: .cwd, via: .peer(group: group), pid: pid, comm: "sleep", mountNamespace: theirs, path: busy,
                      mountID: copy.mountID),
                .init(how: .mount, via: .peer(group: group), mountNamespace: theirs, path: busy, mountID: copy.mountID),
            ])
            let label = try #require(report.namespace(inode: theirs))
            #expect(label == .init(inode: theirs, isHost: false, pid: pid, comm: "sleep", processCount: 1))
            #expect(report.namespace(inode: hostNamespace)?.isHost == true)
            #expect(!report.budgetExhausted)

            // storetrace names every pid fuser names, and says how.
            let fuser = try fuserPIDs(busy)
            #expect(fuser.contains(pid))
            #expect(fuser.isSubset(of: Set(report.holders.compactMap(\.pid))))

            let cli = try CLI.run(["holders", busy])
            #expect(cli.status == 1)
            #expect(cli.stdout.contains("  ↳ busy: pid \(pid) (sleep) in mnt:\(theirs), cwd \(busy), on a copy of it (peer group \(group))\n"))
            #expect(cli.stdout.contains("  ↳ busy: mnt:\(theirs) (sleep[\(pid)]) has a copy of it at \(busy) (peer group \(group), mount \(copy.mountID))\n"))
            let json = try CLI.run(["holders", "--json", busy])
            #expect(json.status == 1)
            let event = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect(event["type"] as? String == "holders")
            let holders = try #require(event["holders"] as? [[String: Any]])
            #expect(holders.first?["how"] as? String == "cwd")
            #expect(holders.first?["pid"] as? Int == Int(pid))
            #expect(holders.first?["mntns"] as? Int == Int(theirs))
            #expect(holders.first?["via"] as? String == "peer")
        }

        @Test func openFileAndMemoryMapOnTheMount() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            let target = try mountEntry(busy)
            try Data(repeating: 0x61, count: 8192).write(to: URL(fileURLWithPath: busy + "/data"))
            try Data(repeating: 0x62, count: 8192).write(to: URL(fileURLWithPath: busy + "/mapped"))
            let reader = try node.sleeper("exec sleep 60 < \(busy)/data")
            // The file is mapped, then its fd closed: only the mapping holds
            // it. mmap(2) through ctypes: Python's mmap module keeps a dup.
            let mapper = try node.python("""
                import ctypes, os, time
                libc = ctypes.CDLL(None, use_errno=True)
                libc.mmap.restype = ctypes.c_void_p
                libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
                fd = os.open('\(busy)/mapped', os.O_RDONLY)
                address = libc.mmap(None, 8192, 1, 2, fd, 0)  # PROT_READ, MAP_PRIVATE
                assert address not in (None, ctypes.c_void_p(-1).value)
                os.close(fd)
                open('MARKER', 'w').close()
                time.sleep(60)
                """)
            let report = try HolderScan.run(.path(busy), options: .interactive)
            #expect(report.holders == [
                .init(how: .fd, via: .target, pid: reader, comm: "sleep", mountNamespace: hostNamespace, path: busy + "/data",
                      mountID: target.mountID, fd: 0, openFlags: UInt32(O_RDONLY) | 0o100000),
                .init(how: .map, via: .target, pid: mapper, comm: "python3", mountNamespace: hostNamespace,
                      path: busy + "/mapped", mountID: target.mountID),
            ].sorted(by: HolderReport.Holder.order))
            let fuser = try fuserPIDs(busy)
            #expect(fuser == [reader, mapper])
            #expect(umount2(busy, 0) == -1 && errno == EBUSY)
        }

        /// The process scan split over threads (every processesPerWorker
        /// processes a thread, up to workers) names exactly what one thread
        /// names, and counts each process once.
        @Test func threadsNameWhatOneThreadNames() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            try Data(repeating: 0x61, count: 4096).write(to: URL(fileURLWithPath: busy + "/data"))
            var pids: Set<Int32> = []
            for _ in 0..<3 { pids.insert(try node.sleeper("cd \(busy) && exec sleep 60 < \(busy)/data")) }
            var one = HolderScanOptions.interactive
            one.workers = 1
            var three = HolderScanOptions.interactive
            three.workers = 3
            three.processesPerWorker = 1
            let single = try HolderScan.run(.path(busy), options: one)
            let threaded = try HolderScan.run(.path(busy), options: three)
            #expect(Set(single.holders.compactMap(\.pid)) == pids)
            #expect(single.holders.count == 6) // cwd and fd 0 of each
            #expect(threaded.holders == single.holders)
            // Other tests start and end processes meanwhile: the counts are
            // of the whole node, each process at most once.
            let listed = try FileManager.default.contentsOfDirectory(atPath: "/proc").filter { Int($0) != nil }.count
            #expect(threaded.counts.processes > 3 && threaded.counts.processes <= listed + 64)
        }

        @Test func processChrootedIntoTheMount() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            let target = try mountEntry(busy)
            let pid = try node.python("""
                import os, time
                open('MARKER', 'w').close()
                os.chroot('\(busy)')
                os.chdir('/')
                time.sleep(60)
                """)
            // The marker is written just before chroot: wait for the root to move.
            for _ in 0..<200 where (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/root")) != busy {
                usleep(10_000)
            }
            let report = try HolderScan.run(.path(busy), options: .interactive)
            #expect(report.holders == [
                .init(how: .cwd, via: .target, pid: pid, comm: "python3", mountNamespace: hostNamespace, path: busy,
                      mountID: target.mountID),
                .init(how: .root, via: .target, pid: pid, comm: "python3", mountNamespace: hostNamespace, path: busy,
                      mountID: target.mountID),
            ])
            #expect(try fuserPIDs(busy).isSubset(of: [pid]))
        }

        @Test func submountAndAProcessOnIt() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            let target = try mountEntry(busy)
            let below = busy + "/sub"
            mkdir(below, 0o755)
            try check(mount("storetrace-sub", below, "tmpfs", 0, nil), "mount \(below)")
            let sub = try mountEntry(below)
            let pid = try node.sleeper("cd \(below) && exec sleep 60")
            #expect(umount2(busy, 0) == -1 && errno == EBUSY)

            let report = try HolderScan.run(.path(busy), options: .interactive)
            #expect(report.holders == [
                .init(how: .cwd, via: .below(mountID: target.mountID, onTop: false), pid: pid, comm: "sleep",
                      mountNamespace: hostNamespace, path: below, mountID: sub.mountID),
                .init(how: .submount, via: .below(mountID: target.mountID, onTop: false), mountNamespace: hostNamespace,
                      path: below, mountID: sub.mountID),
            ])
            var out = OutputBuffer()
            HolderRenderer.renderText(report, clock: KernelClock.measureOffset(), into: &out)
            let text = String(decoding: out.bytes, as: UTF8.self)
            #expect(text.contains("  ↳ busy: a mount below it at \(below) in host (mount \(sub.mountID))\n"))
        }

        @Test func namespacePinnedByAnNsfsBindMountWithNoProcess() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            let group = try #require(try mountEntry(busy).peerGroup)
            // The nsfs file must be on a private mount (a shared one would
            // propagate the namespace into itself, which the kernel refuses).
            let pins = node.scratch.dir("pins")
            try check(mount(pins, pins, nil, UInt(MS_BIND), nil), "bind \(pins)")
            try check(mount(nil, pins, nil, UInt(MS_PRIVATE), nil), "make-private \(pins)")
            let file = pins + "/mnt"
            close(try check(open(file, O_CREAT | O_RDWR | O_CLOEXEC, 0o600), "create \(file)"))
            try runCommand("/usr/bin/unshare", ["--mount=\(file)", "--propagation", "unchanged", "/bin/true"])
            var info = stat()
            try check(stat(file, &info), "stat \(file)")
            let pinned = UInt64(info.st_ino)
            #expect(pinned != hostNamespace)
            let nsfs = try mountEntry(file)
            #expect(nsfs.fstype == "nsfs")

            let report = try HolderScan.run(.path(busy), options: .interactive)
            let copy = try #require(report.holders.first { $0.how == .mount && $0.mountNamespace == pinned })
            #expect(copy.via == .peer(group: group))
            #expect(copy.path == busy)
            #expect(report.holders.filter { $0.mountNamespace == pinned } == [
                copy,
                .init(how: .nsPinned, via: .peer(group: group), mountNamespace: pinned, path: file, mountID: nsfs.mountID),
            ])
            #expect(report.namespace(inode: pinned) == .init(inode: pinned, isHost: false, processCount: 0, pinnedAt: file))
            #expect(report.holders.allSatisfy { $0.pid == nil })
            #expect(report.counts.namespacesUnreadable == 0)
        }

        @Test func loopDeviceBackedByAFileOnTheMount() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            let target = try mountEntry(busy)
            let device = try node.loopDevice(backedBy: busy + "/backing.img")
            let report = try HolderScan.run(.path(busy), options: .interactive)
            #expect(report.holders == [
                .init(how: .loopBacking, via: .target, path: busy + "/backing.img", mountID: target.mountID,
                      device: String(device.dropFirst("/dev/".count))),
            ])
            let cli = try CLI.run(["holders", busy])
            #expect(cli.stdout.contains("  ↳ busy: \(device.dropFirst("/dev/".count)) is backed by \(busy)/backing.img, on it\n"))
        }

        @Test func blockDeviceHeldOpenExclusivelyWhileMountFails() throws {
            let node = BusyNode()
            let device = try node.loopDevice(backedBy: node.path + "/disk.img", ext4: true)
            let pid = try node.python("""
                import os, time
                fd = os.open('\(device)', os.O_RDONLY | os.O_EXCL)
                open('MARKER', 'w').close()
                time.sleep(60)
                """)
            let mountPoint = node.scratch.dir("m")
            #expect(mount(device, mountPoint, "ext4", 0, nil) == -1 && errno == EBUSY)

            var info = stat()
            try check(stat(device, &info), "stat \(device)")
            let (major, minor) = (st_dev_major(UInt64(info.st_rdev)), st_dev_minor(UInt64(info.st_rdev)))
            for target in [HolderTarget.path(device), HolderTarget(argument: "\(major):\(minor)")] {
                let report = try HolderScan.run(target, options: .interactive)
                #expect(report.target.kind == .device)
                #expect(report.target.major == major && report.target.minor == minor)
                #expect(report.target.deviceName == String(device.dropFirst("/dev/".count)))
                let fdinfo = try String(contentsOfFile: "/proc/\(pid)/fdinfo/3", encoding: .utf8)
                // O_EXCL never shows: the kernel strips it from f_flags.
                #expect(report.holders == [
                    .init(how: .open, via: .device, pid: pid, comm: "python3", mountNamespace: hostNamespace,
                          path: device, fd: 3, openFlags: SnapshotText.fileDescriptorInfo(fdinfo).flags),
                ])
                #expect(report.holders.first?.openFlags.map { $0 & UInt32(O_EXCL) } == 0)
            }
            #expect(try fuserPIDs(device).isSubset(of: [pid]))
            let cli = try CLI.run(["holders", "\(major):\(minor)"])
            #expect(cli.status == 1)
            #expect(cli.stdout.contains("  ↳ busy: pid \(pid) (python3) in host, fd 3 \(device) open O_RDONLY"))
        }

        @Test func deviceMountedInAnotherNamespace() throws {
            let node = BusyNode()
            let device = try node.loopDevice(backedBy: node.path + "/disk.img", ext4: true)
            let mountPoint = node.scratch.dir("m")
            let pid = try node.sleeper("mount \(device) \(mountPoint) && cd \(mountPoint) && exec sleep 60",
                                       via: ["/usr/bin/unshare", "-m", "--propagation", "private"])
            let theirs = try mountNamespace(of: pid)
            let mounted = try mountEntry(mountPoint, pid: pid)
            #expect(mounted.fstype == "ext4")

            let report = try HolderScan.run(.path(device), options: .interactive)
            #expect(report.holders == [
                .init(how: .cwd, via: .target, pid: pid, comm: "sleep", mountNamespace: theirs, path: mountPoint,
                      mountID: mounted.mountID),
                .init(how: .mount, via: .target, mountNamespace: theirs, path: mountPoint, mountID: mounted.mountID),
            ])
            #expect(try fuserPIDs(device).isSubset(of: [pid]))
            var out = OutputBuffer()
            HolderRenderer.renderText(report, clock: KernelClock.measureOffset(), into: &out)
            #expect(String(decoding: out.bytes, as: UTF8.self).contains(
                "  ↳ busy: mounted at \(mountPoint) in mnt:\(theirs) (sleep[\(pid)]) (mount \(mounted.mountID))\n"))
        }

        @Test func nothingHoldsAFreeMountAndBadTargetsAreOneLine() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            let report = try HolderScan.run(.path(busy), options: .automatic)
            #expect(report.holders.isEmpty)
            #expect(report.counts.processes > 1)
            #expect(try HolderReport(json: report.jsonText()) == report)
            let cli = try CLI.run(["holders", busy])
            #expect(cli.status == 0)
            #expect(cli.stdout.contains("  ↳ nothing holds it: scan at "))

            let missing = try CLI.run(["holders", node.path + "/absent"])
            #expect(missing.status == 2)
            #expect(missing.stderr == "storetrace: \(node.path)/absent: No such file or directory\n")
            let noDevice = try CLI.run(["holders", "4095:1048575"])
            #expect(noDevice.status == 2)
            #expect(noDevice.stderr.hasPrefix("storetrace: 4095:1048575: no such block device"))
            #expect(throws: HolderScanError.notAMountPoint(path: node.path + "/nowhere", mountNamespace: hostNamespace)) {
                try HolderScan.run(.mountPoint(node.path + "/nowhere", mountNamespace: hostNamespace))
            }
            // A directory that is no mount point (a mount gone by the time
            // the scan of its EBUSY runs) is not its parent mount: scanning
            // "/" named every process on the node.
            let plain = node.scratch.dir("plain")
            #expect(throws: HolderScanError.notAMountPoint(path: plain, mountNamespace: hostNamespace)) {
                try HolderScan.run(.mountPoint(plain, mountNamespace: hostNamespace))
            }
            // A symlink to the mount point still finds it.
            let link = node.path + "/link-to-busy"
            #expect(symlink(busy, link) == 0)
            #expect(try HolderScan.run(.mountPoint(link, mountNamespace: hostNamespace)).target.mountID
                == report.target.mountID)
            // The lead's path for a failed umount2: the mount point as the
            // caller's namespace names it.
            let byMountPoint = try HolderScan.run(.mountPoint(busy + "/", mountNamespace: hostNamespace))
            #expect(byMountPoint.target.mountID == report.target.mountID)
        }

        @Test func exitingProcessesAreSkippedAndCounted() throws {
            let node = BusyNode()
            let (_, busy) = try node.sharedTmpfs()
            let pid = try node.sleeper("cd \(busy) && exec sleep 60")
            let churn = try node.spawn(["/bin/sh", "-c", "cd \(busy) && while :; do /bin/true; done"]) { _ in true }
            for _ in 0..<10 {
                let report = try HolderScan.run(.path(busy), options: .automatic)
                #expect(report.holders.contains { $0.pid == pid && $0.how == .cwd })
                #expect(report.holders.contains { $0.pid == churn && $0.how == .cwd })
                #expect(!report.budgetExhausted)
            }
            var tight = HolderScanOptions.automatic
            tight.timeBudgetNanoseconds = 0
            let cut = try HolderScan.run(.path(busy), options: tight)
            #expect(cut.budgetExhausted)
        }
    }
}
