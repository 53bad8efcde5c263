import Foundation
import Glibc
import Testing
@testable import StoretraceKernel

/// Directories made to look like kubelet's pod cgroups, removed (deepest
/// first, only those this test made) at deinit.
final class FakePodCgroups {
    private var made: [String] = []

    /// Makes every missing directory of `relative` under `root`; returns the deepest.
    func make(_ root: String, _ relative: String) throws -> String {
        var path = root
        for part in relative.split(separator: "/") {
            path += "/" + part
            if mkdir(path, 0o755) == 0 {
                made.append(path)
            } else if errno != EEXIST {
                throw SyscallFailed(description: "mkdir \(path): \(String(cString: strerror(errno)))")
            }
        }
        return path
    }

    /// Removes what `make` made (once its processes left).
    func remove() {
        // A directory another test still uses (kubepods.slice) stays.
        for path in made.reversed() { rmdir(path) }
        made = []
    }

    deinit { remove() }
}

/// The v1 hierarchy of one controller, if this host mounts it (hybrid, v1).
func cgroupV1Mount(controller: String) -> String? {
    guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") {
        let halves = line.components(separatedBy: " - ")
        guard halves.count == 2 else { continue }
        let after = halves[1].split(separator: " ")
        guard after.count >= 3, after[0] == "cgroup", after[2].split(separator: ",").contains(Substring(controller)) else { continue }
        return String(halves[0].split(separator: " ")[4])
    }
    return nil
}

extension KernelTests {
@Suite struct PodCgroupKernelTests {
    static func randomHex(_ count: Int) -> String {
        String((0..<count).map { _ in "0123456789abcdef".randomElement()! })
    }

    static func randomUID() -> String { UUID().uuidString.lowercased() }

    /// A bind mount at a kubelet-shaped path by a process in a cgroup made to
    /// look like a pod's: in the unified hierarchy (systemd driver,
    /// containerd), found by the BPF cgroup id; and, where the host has v1
    /// hierarchies, a cgroupfs pod in the pids hierarchy only, found from
    /// the process's /proc/PID/cgroup. Both show pod UID, volume and
    /// container in text and JSON, live and in replay; --pod keeps one pod's
    /// call and counts the others as filtered.
    @Test func podProcessesAreNamedLiveAndInReplayAndFiltered() throws {
        let resolver = CgroupResolver()
        let unified = try #require(resolver.unifiedMount, "this host mounts cgroup2 (\(resolver.method))")
        let scratch = Scratch()
        let cgroups = FakePodCgroups()
        let kubelet = scratch.path + "/var/lib/kubelet"
        let source = scratch.dir("src")

        // Pod A: systemd driver, BestEffort, containerd, in the unified hierarchy.
        let uidA = Self.randomUID(), containerA = Self.randomHex(64)
        let scopeA = try cgroups.make(unified, "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
                                      + uidA.replacingOccurrences(of: "-", with: "_") + ".slice/cri-containerd-\(containerA).scope")
        let volumeA = "pvc-" + Self.randomHex(8)
        let targetA = kubelet + "/pods/\(uidA)/volumes/kubernetes.io~csi/\(volumeA)/mount"
        try FileManager.default.createDirectory(atPath: targetA, withIntermediateDirectories: true)

        // Pod B: cgroupfs driver, Burstable, in the v1 pids hierarchy only.
        let pids = cgroupV1Mount(controller: "pids")
        let uidB = Self.randomUID(), containerB = Self.randomHex(64)
        var containerDirB: String?
        if let pids { containerDirB = try cgroups.make(pids, "kubepods/burstable/pod\(uidB)/\(containerB)") }
        let volumeB = "pvc-" + Self.randomHex(8)
        let targetB = kubelet + "/pods/\(uidB)/volumes/kubernetes.io~csi/\(volumeB)/mount"
        try FileManager.default.createDirectory(atPath: targetB, withIntermediateDirectories: true)

        // A host process's mount.
        let targetHost = scratch.dir("host-target")

        let capture = scratch.path + "/pods.stcap"
        let recorder = try RunningCLI(["record", "-o", capture, "--live", "--json", "--type", "mount", "--no-ftrace"])
        #expect(recorder.waitUntilReady())
        // mount(8) exec'd by a shell that moved itself into pod A's scope:
        // the call's BPF cgroup id is the scope's.
        run("/bin/sh", ["-c", "echo $$ > \"$1/cgroup.procs\" && exec /bin/mount --bind \"$2\" \"$3\"", "sh", scopeA, source, targetA])
        if let containerDirB {
            // A process that moves itself into pod B's v1 cgroup, mounts, and
            // lives on for a second (/proc/PID/cgroup is read after its call).
            run("/usr/bin/env", ["python3", "-c", """
                import ctypes, os, sys, time
                open(sys.argv[1] + "/cgroup.procs", "w").write(str(os.getpid()))
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.mount(sys.argv[2].encode(), sys.argv[3].encode(), b"none", 4096, None) != 0:
                    sys.exit(1)
                time.sleep(1.0)
                """, containerDirB, source, targetB])
        }
        run("/bin/mount", ["--bind", source, targetHost])
        usleep(300_000)
        let live = recorder.stop()
        #expect(live.status == 0, "\(live.stderr)")

        func event(_ lines: String, target: String) -> [String: Any]? {
            jsonLines(lines).first { $0["type"] as? String == "mount" && $0["target"] as? String == target }
        }
        // Live JSON: the path's pod and volume (k8s), the caller's pod (pod).
        let liveA = try #require(event(live.stdout, target: targetA), "\(live.stdout)\n\(live.stderr)")
        #expect((liveA["k8s"] as? [String: Any])?["pod_uid"] as? String == uidA)
        #expect((liveA["k8s"] as? [String: Any])?["volume"] as? String == volumeA)
        #expect(liveA["pod"] as? [String: String] == ["uid": uidA, "qos": "besteffort", "container_id": containerA, "runtime": "containerd"],
                "\(liveA)")
        #expect((liveA["cgroup_id"] as? Int).map(UInt64.init) == inode(scopeA))
        let liveHost = try #require(event(live.stdout, target: targetHost))
        #expect(liveHost["pod"] == nil, "a host process: no pod object")
        if pids != nil {
            let liveB = try #require(event(live.stdout, target: targetB), "\(live.stdout)")
            let podB = try #require(liveB["pod"] as? [String: Any], "\(liveB)\n\(live.stderr)")
            #expect(podB["uid"] as? String == uidB)
            #expect(podB["qos"] as? String == "burstable")
            #expect(podB["container_id"] as? String == containerB)
            #expect(podB["runtime"] is NSNull, "cgroupfs names the container by its id alone")
        }

        // Replay: the same bytes, from the cgroup records in the capture.
        let replay = try CLI.run(["replay", capture, "--json", "--type", "mount"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout == live.stdout)

        // Text, in replay and live: the volume's suffix, then the caller's.
        let text = try CLI.run(["replay", capture, "--type", "mount"])
        let lineA = try #require(text.stdout.split(separator: "\n").first { $0.contains(targetA) })
        #expect(lineA.hasSuffix(" = 0 [pod-publish pod \(uidA.prefix(8))… vol \(volumeA)] [by pod \(uidA.prefix(8))… ctr \(containerA.prefix(12)) besteffort]"),
                "\(lineA)")
        if pids != nil {
            let lineB = try #require(text.stdout.split(separator: "\n").first { $0.contains(targetB) })
            #expect(lineB.hasSuffix(" [by pod \(uidB.prefix(8))… ctr \(containerB.prefix(12)) burstable]"), "\(lineB)")
        }
        let hostLine = try #require(text.stdout.split(separator: "\n").first { $0.contains(targetHost) })
        #expect(!hostLine.contains("[by pod"))

        // --pod keeps pod A's call, drops the others and counts them.
        let onlyA = try CLI.run(["replay", capture, "--json", "--type", "mount", "--pod", uidA])
        #expect(onlyA.status == 0, "\(onlyA.stderr)")
        let kept = jsonLines(onlyA.stdout).filter { $0["type"] as? String == "mount" }
        #expect(kept.map { $0["target"] as? String } == [targetA], "\(onlyA.stdout)")
        let all = jsonLines(replay.stdout).filter { $0["type"] as? String == "mount" }.count
        #expect(onlyA.stderr.contains("1 events shown (\(all) read), \(all - 1) left out by the filters"), "\(onlyA.stderr)")
        // --container by a prefix, the systemd spelling of a UID too.
        let byContainer = try CLI.run(["replay", capture, "--json", "--type", "mount", "--container", String(containerA.prefix(12)),
                                       "--pod", uidA.replacingOccurrences(of: "-", with: "_")])
        #expect(jsonLines(byContainer.stdout).filter { $0["type"] as? String == "mount" }.map { $0["target"] as? String } == [targetA])
        // --path: the host's mount alone.
        let byPath = try CLI.run(["replay", capture, "--json", "--type", "mount", "--path", targetHost + "/"])
        #expect(jsonLines(byPath.stdout).map { $0["target"] as? String } == [targetHost])

        // Live, text, with --pod: pod A's call, and nothing of the host's.
        let watcher = try RunningCLI(["live", "--type", "mount", "--no-ftrace", "--pod", uidA])
        #expect(watcher.waitUntilReady())
        let again = scratch.dir("again-\(uidA.prefix(8))")
        run("/bin/sh", ["-c", "echo $$ > \"$1/cgroup.procs\" && exec /bin/mount --bind \"$2\" \"$3\"", "sh", scopeA, source, targetA])
        run("/bin/mount", ["--bind", source, again])
        usleep(300_000)
        let watched = watcher.stop()
        let lines = watched.stdout.split(separator: "\n").filter { $0.contains(" mount(") }
        #expect(lines.count == 1, "\(watched.stdout)")
        #expect(lines.first?.contains(targetA) == true)
        #expect(lines.first?.hasSuffix("[by pod \(uidA.prefix(8))… ctr \(containerA.prefix(12)) besteffort]") == true, "\(watched.stdout)")
        #expect(!watched.stdout.contains(again))
        for target in [targetA, targetA, targetB, targetHost, again] { umount2(target, Int32(MNT_DETACH)) }
    }

    @Test func filterValuesAreCheckedOnOneLine() throws {
        for (arguments, message) in [
            (["--pod", "not-a-uid"], "a pod UID is a UUID"),
            (["--container", "xyz"], "a container id is up to 64 hex digits"),
            (["--path", "var/lib"], "a path prefix is absolute"),
            (["--device", "7:"], "MAJ:MIN takes two decimal numbers"),
            (["--device", "a/b"], "write a block device's name"),
        ] {
            let result = try CLI.run(["replay", "/nonexistent.stcap"] + arguments)
            #expect(result.status != 0)
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").first?.contains(message) == true, "\(result.stderr)")
        }
    }
}
}

private func inode(_ path: String) -> UInt64? {
    var info = stat()
    return stat(path, &info) == 0 ? UInt64(info.st_ino) : nil
}
