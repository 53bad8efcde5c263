import StoretraceKernel
import StoretraceRecords

/// Joins sources to the event loop and feeds what they deliver into a
/// pipeline: a readable descriptor drains its source; a source that does
/// not signal every record is drained again after every non-empty drain;
/// merged records are released a window behind the clock.
final class SourceDriver {
    let pipeline: Pipeline
    let sources: [RecordSource]
    /// Made once and handed to every drain: a closure literal per drain
    /// would cost a context allocation each time, since the tracer keeps
    /// `emit` for libbpf's callbacks while it drains.
    private let submit: (RawRecord) -> Void

    init(sources: [RecordSource], pipeline: Pipeline) {
        self.sources = sources
        self.pipeline = pipeline
        submit = { [pipeline] in pipeline.submit($0) }
    }

    /// `afterBatch` runs after every drain that went straight through (no
    /// merge) and after every merge release: where the session checks
    /// whether a consumer asked to stop.
    func attach(to loop: EventLoop, afterBatch: @escaping () -> Void) throws(KernelError) {
        for source in sources {
            // Not every record wakes pollFD (the ring buffer batches
            // wake-ups to spare the traced calls): after records came, drain
            // again until none do. Re-armed after every non-empty drain, the
            // timer always fires after the last record a forced wake-up left
            // behind (SyscallTracer).
            var redrain: EventLoop.OneShotTimer?
            let drain = { [pipeline, submit] in
                let count = source.drain(submit)
                if pipeline.mergeWindow == nil {
                    pipeline.batchEnded()
                    afterBatch()
                }
                if count > 0, let interval = source.redrainMilliseconds { redrain?.arm(milliseconds: interval) }
            }
            if source.redrainMilliseconds != nil { redrain = try loop.addOneShotTimer { drain() } }
            for fd in source.pollFDs { try loop.add(fd: fd) { drain() } }
            if let interval = source.drainEveryMilliseconds { try loop.addTimer(milliseconds: interval) { drain() } }
        }
        if let window = pipeline.mergeWindow {
            try loop.addTimer(milliseconds: 50) { [pipeline] in
                let now = KernelClock.monotonicNow()
                pipeline.release(upTo: now > window ? now - window : 0)
                afterBatch()
            }
        }
    }

    /// What arrived before the stop, all of it, in order.
    func drainAll() {
        for source in sources { source.drain(submit) }
        pipeline.finish()
    }

    var losses: [LossCount] { sources.flatMap(\.losses) }

    func close() {
        for source in sources { source.close() }
    }
}
