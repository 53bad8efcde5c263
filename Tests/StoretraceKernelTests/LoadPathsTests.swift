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

    /// The plain-load programs need task storage's BTF task and Linux 6.2:
    /// a kernel that has the ring buffer and task storage but refuses them
    /// gets the helper-read ones; one that lacks either is older still.
    @Test func thePlainLoadsAreGivenUpLastOrWithTheFeaturesTheyNeed() {
        let plain = Paths(perfBuffer: false, taskStorage: true, plainFileLoads: true)
        #expect(plain.fallback(ringBuffer: true, taskStorage: true) == fast)
        #expect(plain.fallback(ringBuffer: true, taskStorage: false) == Paths(perfBuffer: false, taskStorage: false))
        #expect(plain.fallback(ringBuffer: false, taskStorage: false) == Paths(perfBuffer: true, taskStorage: false))
        #expect(fast.fallback(ringBuffer: true, taskStorage: true) == nil)
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
