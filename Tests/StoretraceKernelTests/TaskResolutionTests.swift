import Foundation
import Glibc
import Testing
@testable import StoretraceKernel

@Suite(.serialized) struct TaskResolutionTests {
    /// 30 processes that live for one mkdir: each is gone (exited and
    /// reaped) before storetrace reads its tracepoint event, so /proc cannot
    /// name it; the kernel's saved_tgids/saved_cmdlines (the instance's
    /// record-tgid) still do, and `--comm mkdir` keeps all 30, live and in replay.
    @Test func shortLivedProcessesKeepTheirPidAndComm() throws {
        let scratch = Scratch()
        let capture = scratch.path + "/short.stcap"
        let recorder = try RunningCLI(["record", "-o", capture, "--live", "--json", "--type", "tracepoint",
                                       "--event", "syscalls:sys_enter_mkdir", "--comm", "mkdir"])
        #expect(recorder.waitUntilReady())
        var pids: [Int] = []
        for number in 0..<30 {
            // exec: the process storetrace sees is the one we started (its pid), named mkdir.
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/bin/sh")
            child.arguments = ["-c", "exec mkdir \(scratch.path)/short-\(number)"]
            try child.run()
            child.waitUntilExit()
            #expect(child.terminationStatus == 0)
            pids.append(Int(child.processIdentifier))
        }
        for pid in pids { #expect(kill(pid_t(pid), 0) == -1 && errno == ESRCH, "pid \(pid) is gone") }
        usleep(500_000)
        let live = recorder.stop()
        #expect(live.status == 0, "\(live.stderr)")

        func named(_ stdout: String) -> [Int] {
            jsonLines(stdout).filter { $0["event"] as? String == "syscalls:sys_enter_mkdir" && $0["comm"] as? String == "mkdir" }
                .compactMap { event in
                    guard let pid = event["pid"] as? Int, event["tid"] as? Int == pid else { return nil }
                    return pid
                }
        }
        let shown = Set(named(live.stdout))
        #expect(pids.filter { shown.contains($0) }.count == 30, "\(live.stdout)\n\(live.stderr)")

        let replay = try CLI.run(["replay", capture, "--json", "--comm", "mkdir"])
        #expect(replay.status == 0, "\(replay.stderr)")
        let replayed = Set(named(replay.stdout))
        #expect(pids.filter { replayed.contains($0) }.count == 30, "\(replay.stdout)\n\(replay.stderr)")
    }
}
