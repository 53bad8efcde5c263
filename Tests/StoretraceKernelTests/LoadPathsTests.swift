@testable import StoretraceKernel
import Testing

/// What the syscall tracer loads with after the kernel refused its object:
/// only what the kernel lacks is given up, and a refusal by a kernel that
/// has everything the object used is final (no second load). The loads
/// themselves, with each path forced, are SyscallTracerTests'.
@Suite struct LoadPathsTests {
    typealias Paths = SyscallTracer.LoadPaths
    let fast = Paths(perfBuffer: false, taskStorage: true)

    @Test func onlyWhatTheKernelLacksIsGivenUp() {
        #expect(fast.fallback(ringBuffer: false, taskStorage: true) == Paths(perfBuffer: true, taskStorage: true))
        #expect(fast.fallback(ringBuffer: true, taskStorage: false) == Paths(perfBuffer: false, taskStorage: false))
        #expect(fast.fallback(ringBuffer: false, taskStorage: false) == Paths(perfBuffer: true, taskStorage: false))
    }

    @Test func aRefusalWithEverythingPresentIsFinal() {
        #expect(fast.fallback(ringBuffer: true, taskStorage: true) == nil)
        // Already on the older paths (forced, or after a first fallback): nothing left to give up.
        let legacy = Paths(perfBuffer: true, taskStorage: false)
        for ringBuffer in [false, true] {
            for taskStorage in [false, true] {
                #expect(legacy.fallback(ringBuffer: ringBuffer, taskStorage: taskStorage) == nil)
            }
        }
        #expect(Paths(perfBuffer: true, taskStorage: true).fallback(ringBuffer: false, taskStorage: true) == nil)
        #expect(Paths(perfBuffer: false, taskStorage: false).fallback(ringBuffer: true, taskStorage: false) == nil)
    }
}
