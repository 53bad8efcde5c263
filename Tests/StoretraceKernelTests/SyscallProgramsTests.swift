import CLibbpf
import StoretraceBPF
import StoretraceDecode
@testable import StoretraceKernel
import Testing

/// The program names SyscallTracer loads must be the ones storetrace.bpf.c
/// defines, both exit variants included: a call that gains a `_plain` exit
/// program without being listed (or the reverse) would load the wrong one.
/// Opening the object needs no privilege and no kernel support.
@Suite struct SyscallProgramsTests {
    @Test func everyProgramTheTracerLoadsIsInTheObjectAndNoOther() throws {
        let bytes = try #require(EmbeddedBPF.object(named: "storetrace.bpf.o"))
        let object = try #require(bytes.withUnsafeBytes { bpf_object__open_mem($0.baseAddress, $0.count, nil) })
        defer { bpf_object__close(object) }
        var inObject: Set<String> = []
        var program = bpf_object__next_program(object, nil)
        while let current = program {
            inObject.insert(String(cString: bpf_program__name(current)))
            program = bpf_object__next_program(object, current)
        }
        var loadable: Set<String> = []
        for kind in SyscallKind.allCases {
            let helper = SyscallTracer.programs(for: kind, plainFileLoads: false)
            let plain = SyscallTracer.programs(for: kind, plainFileLoads: true)
            #expect(helper == ["st_enter_\(kind.tracepoint)", "st_exit_\(kind.tracepoint)"])
            if SyscallTracer.plainFileLoadKinds.contains(kind) {
                #expect(plain == ["st_enter_\(kind.tracepoint)", "st_exit_\(kind.tracepoint)_plain"])
            } else {
                #expect(plain == helper)
            }
            loadable.formUnion(helper + plain)
        }
        #expect(inObject == loadable)
        #expect(SyscallTracer.plainFileLoadKinds == [.copyFileRange, .splice, .sendfile])
    }
}
