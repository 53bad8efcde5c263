import Testing
@testable import StoretraceDecode

@Suite struct CPUListTests {
    @Test func ranges() {
        // /sys/devices/system/cpu/online of a machine with CPUs 4-7 and 9 offline.
        #expect(CPUList.parse("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11])
        #expect(CPUList.parse("0\n") == [0])
        #expect(CPUList.parse(" 2-2 ") == [2])
        #expect(SnapshotText.cpuCount(list: "0-3,8,10-11\n") == 7)
    }

    @Test(arguments: ["", "\n", "0-", "-3", "3-1", "a", "0-1048576", "1,-2"])
    func malformed(_ text: String) {
        #expect(CPUList.parse(text[...]) == nil)
        #expect(SnapshotText.cpuCount(list: text[...]) == nil)
    }
}

@Suite struct TraceClockListTests {
    @Test func bracketedIsCurrent() {
        // trace_clock of Linux 6.18, fresh instance.
        let clocks = TraceClockList("[local] global counter uptime perf mono mono_raw boot tai x86-tsc\n")
        #expect(clocks.current == "local")
        #expect(clocks.available == ["local", "global", "counter", "uptime", "perf", "mono", "mono_raw", "boot", "tai", "x86-tsc"])
        #expect(TraceClockList("local global [mono]\n").current == "mono")
    }

    @Test func noneMarked() {
        #expect(TraceClockList("").available.isEmpty)
        #expect(TraceClockList("local global\n").current == nil)
        #expect(TraceClockList("[] local\n").available == ["", "local"])
    }
}

@Suite struct FilterFunctionListTests {
    @Test func namesWithAndWithoutModules() {
        // available_filter_functions: built-in functions, then module ones.
        let list = Array("bind_store\nunbind_store_x\nnvme_probe [nvme]\nnvme_remove\t[nvme]\nbind_stor\n".utf8)
        #expect(FilterFunctionList.present(["bind_store", "unbind_store", "nvme_probe", "nvme_remove", "absent"], in: list)
                == ["bind_store", "nvme_probe", "nvme_remove"])
        #expect(FilterFunctionList.present(["bind_store"], in: []).isEmpty)
        #expect(FilterFunctionList.present(["x"], in: Array("x".utf8)) == ["x"]) // no newline at the end
    }
}
