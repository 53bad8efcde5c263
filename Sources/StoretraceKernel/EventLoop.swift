import CStoretraceSys
import Glibc
import StoretraceCapture
import StoretraceDecode

/// One epoll loop that every source joins: BPF buffers now, tracefs pages,
/// uevents and kmsg later. Handlers are registered once; dispatching calls
/// a stored closure and allocates nothing.
public final class EventLoop {
    private let epollFD: Int32
    private var handlers: [() -> Void] = []
    private var ownedFDs: [Int32] = []
    public private(set) var stopped = false

    public init() throws(KernelError) {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        if epollFD < 0 { throw .system("epoll_create1") }
    }

    deinit {
        for fd in ownedFDs { Glibc.close(fd) }
        Glibc.close(epollFD)
    }

    /// Calls `handler` whenever `fd` is readable (level-triggered).
    public func add(fd: Int32, handler: @escaping () -> Void) throws(KernelError) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = UInt64(handlers.count)
        handlers.append(handler)
        if epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) != 0 { throw .system("epoll_ctl") }
    }

    /// Stops calling the handler of `fd` (a terminal that went away).
    public func remove(fd: Int32) {
        epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
    }

    /// Delivers SIGINT, SIGTERM and SIGHUP through the loop instead of
    /// interrupting it, so a stop always runs the normal clean-up path;
    /// `also` adds signals the handler takes the same way (SIGWINCH for
    /// `top`). Must run before any other thread starts (the mask is inherited).
    public func handleTerminationSignals(also: [Int32] = [], _ handler: @escaping (Int32) -> Void) throws(KernelError) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGHUP] + also { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let fd = signalfd(-1, &set, Int32(SFD_CLOEXEC | SFD_NONBLOCK))
        if fd < 0 { throw .system("signalfd") }
        ownedFDs.append(fd)
        try add(fd: fd) {
            var info = signalfd_siginfo()
            while read(fd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
                handler(Int32(info.ssi_signo))
            }
        }
    }

    /// Calls `handler` every `milliseconds`.
    public func addTimer(milliseconds: Int, _ handler: @escaping () -> Void) throws(KernelError) {
        let fd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_CLOEXEC | TFD_NONBLOCK))
        if fd < 0 { throw .system("timerfd_create") }
        ownedFDs.append(fd)
        var spec = itimerspec()
        spec.it_interval.tv_sec = milliseconds / 1000
        spec.it_interval.tv_nsec = (milliseconds % 1000) * 1_000_000
        spec.it_value = spec.it_interval
        if timerfd_settime(fd, 0, &spec, nil) != 0 { throw .system("timerfd_settime") }
        try add(fd: fd) {
            var expirations: UInt64 = 0
            _ = read(fd, &expirations, 8)
            handler()
        }
    }

    /// A timer that fires once per `arm`: for work that is due only after
    /// something happened, so an idle loop is not woken for nothing.
    public final class OneShotTimer {
        fileprivate let fd: Int32
        fileprivate init(fd: Int32) { self.fd = fd }

        /// Fires `milliseconds` from now; an earlier arming is replaced.
        public func arm(milliseconds: Int) {
            var spec = itimerspec()
            spec.it_value.tv_sec = milliseconds / 1000
            spec.it_value.tv_nsec = (milliseconds % 1000) * 1_000_000
            timerfd_settime(fd, 0, &spec, nil)
        }

        fileprivate func fired() {
            var expirations: UInt64 = 0
            _ = read(fd, &expirations, 8)
        }
    }

    /// A one-shot timer, disarmed until `arm`; `handler` runs when it fires.
    public func addOneShotTimer(_ handler: @escaping () -> Void) throws(KernelError) -> OneShotTimer {
        let fd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_CLOEXEC | TFD_NONBLOCK))
        if fd < 0 { throw .system("timerfd_create") }
        ownedFDs.append(fd)
        let timer = OneShotTimer(fd: fd)
        try add(fd: fd) {
            timer.fired()
            handler()
        }
        return timer
    }

    public func stop() { stopped = true }

    /// Runs until `stop()`.
    public func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 16)
        while !stopped {
            let ready = epoll_wait(epollFD, &events, Int32(events.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            for index in 0..<Int(ready) {
                handlers[Int(events[index].data.u64)]()
                if stopped { return }
            }
        }
    }
}

public enum KernelClock {
    /// Nanoseconds of `clock` now.
    public static func now(_ clock: clockid_t) -> Int64 {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }

    /// CLOCK_MONOTONIC now, the clock of every record.
    public static func monotonicNow() -> UInt64 { UInt64(now(CLOCK_MONOTONIC)) }

    /// The wall-clock offset of CLOCK_MONOTONIC now, from the one clock
    /// sampler (`CaptureClockSample.measure()`).
    public static func measureOffset() -> ClockOffset {
        ClockOffset(realtimeMinusMonotonic: CaptureClockSample.measure().realtimeOffsetNs)
    }
}
