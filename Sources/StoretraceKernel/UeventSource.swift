import CStoretraceSys
import Glibc
import StoretraceDecode
import StoretraceRecords
import SystemPackage

/// Kernel device events (add, remove, change, bind, ...) from a
/// NETLINK_KOBJECT_UEVENT socket bound to the kernel's multicast group only.
/// Emits `.uevent` records holding the message exactly as received; the
/// pipeline parses each once and applies the subsystem filter
/// (`EventFilter.ueventSubsystems`), so a capture holds what was shown.
///
/// Timestamps are CLOCK_MONOTONIC at receipt: the message carries no time of
/// its own. They trail the kernel's send by the scheduling delay of this
/// process (microseconds on an idle node), so a uevent can sort just after
/// an ftrace or syscall event that in fact followed it.
public final class UeventSource: RecordSource {
    public static let netlinkKobjectUevent: Int32 = 15
    /// The kernel's multicast group; udev re-broadcasts on group 2, which we never join.
    static let kernelGroup: UInt32 = 1
    /// kobject_uevent messages are at most UEVENT_BUFFER_SIZE (2048) plus the
    /// header; twice that leaves room, and MSG_TRUNC still catches the rest.
    static let messageCapacity = 8192

    public static let defaultSubsystems = ["block", "pci", "nvme", "scsi", "virtio"]

    public let kind = SourceKind.uevent
    public var pollFDs: [Int32] { fd >= 0 ? [fd] : [] }
    /// The receive buffer the kernel granted (SO_RCVBUF as read back).
    public let receiveBufferBytes: Int

    private var fd: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private let sender: UnsafeMutablePointer<sockaddr_nl>
    private let maxMessagesPerDrain: Int

    private var overruns: UInt64 = 0
    private var truncated: UInt64 = 0
    private var foreignSenders: UInt64 = 0
    private var receiveErrors: UInt64 = 0
    /// SEQNUM accounting over every kernel message received (before any
    /// filter): numbers missing right after an overrun were lost in it;
    /// others the kernel sent elsewhere (another network namespace's
    /// sockets) or before we bound.
    private var lastSequence: UInt64?
    private var overrunSinceLast = false
    private var lostInOverruns: UInt64 = 0
    private var sequenceSkipped: UInt64 = 0
    /// Context read from sysfs at receipt (`UeventContext`), at most
    /// `maxContextLookupsPerSecond`; the rest are counted.
    private let maxContextLookupsPerSecond = 64
    private var contextLookups: (second: Int64, count: Int) = (0, 0)
    private var contextSkipped: UInt64 = 0
    private var annotated: [UInt8] = []
    private var context = UeventContext()

    /// `receiveBufferBytes`: asked for with SO_RCVBUFFORCE (root), else
    /// SO_RCVBUF (capped by net.core.rmem_max). A burst of events (a PCI
    /// rescan, many disks) must fit while the loop is busy elsewhere.
    public init(receiveBufferBytes: Int = 4 << 20,
                maxMessagesPerDrain: Int = 256) throws(KernelError) {
        let socketType = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = socket(AF_NETLINK, socketType, Self.netlinkKobjectUevent)
        if fd < 0 { throw .system("socket(NETLINK_KOBJECT_UEVENT)") }

        var size = Int32(clamping: receiveBufferBytes)
        let length = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, length) != 0 {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, length)
        }
        var granted: Int32 = 0
        var grantedLength = length
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &grantedLength)
        self.receiveBufferBytes = Int(granted)

        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        address.nl_pid = 0  // let the kernel pick our port id
        address.nl_groups = Self.kernelGroup
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
            }
        }
        if bound != 0 {
            let failure = KernelError.system("bind(NETLINK_KOBJECT_UEVENT, kernel group)")
            Glibc.close(fd)
            throw failure
        }

        self.fd = fd
        self.maxMessagesPerDrain = max(1, maxMessagesPerDrain)
        buffer = .allocate(byteCount: Self.messageCapacity, alignment: 8)
        sender = .allocate(capacity: 1)
        sender.initialize(to: sockaddr_nl())
        // The message and what UeventContext appends: no growth while draining.
        annotated.reserveCapacity(Self.messageCapacity + 3 * Int(PATH_MAX))
    }

    deinit {
        close()
        buffer.deallocate()
        sender.deallocate()
    }

    @discardableResult
    public func drain(_ emit: @escaping (RawRecord) -> Void) -> Int {
        guard fd >= 0 else { return 0 }
        var delivered = 0
        var received = 0
        while received < maxMessagesPerDrain {
            var vector = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
            var header = msghdr()
            header.msg_name = UnsafeMutableRawPointer(sender)
            header.msg_namelen = socklen_t(MemoryLayout<sockaddr_nl>.size)
            let count = withUnsafeMutablePointer(to: &vector) { vectorPointer in
                header.msg_iov = vectorPointer
                header.msg_iovlen = 1
                return recvmsg(fd, &header, 0)
            }
            if count < 0 {
                switch errno {
                case EINTR: continue
                case EAGAIN: return delivered
                // The socket buffer overflowed: the kernel dropped messages
                // (SEQNUM gaps show how many). Reading goes on.
                case ENOBUFS: overruns += 1; overrunSinceLast = true; continue
                default: receiveErrors += 1; return delivered
                }
            }
            received += 1
            let timestamp = UInt64(KernelClock.now(CLOCK_MONOTONIC))
            // Only the kernel (port id 0) sends on this group legitimately; a
            // user process can forge uevents to a netlink group it may send to.
            guard header.msg_namelen >= socklen_t(MemoryLayout<sockaddr_nl>.size),
                  sender.pointee.nl_family == sa_family_t(AF_NETLINK), sender.pointee.nl_pid == 0
            else {
                foreignSenders += 1
                continue
            }
            if header.msg_flags & Int32(MSG_TRUNC) != 0 {
                truncated += 1
                continue
            }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            guard let message = try? UeventMessage(parsing: bytes) else {
                // The pipeline counts it as malformed, as it is.
                emit(RawRecord(source: .uevent, timestamp: timestamp, bytes: bytes))
                delivered += 1
                continue
            }
            account(sequence: message.sequenceNumber)
            if UeventContext.wanted(message), takeContextLookup(at: timestamp) {
                annotated.removeAll(keepingCapacity: true)
                annotated.append(contentsOf: bytes)
                context.append(for: message, to: &annotated)
                annotated.withUnsafeBytes { emit(RawRecord(source: .uevent, timestamp: timestamp, bytes: $0)) }
            } else {
                emit(RawRecord(source: .uevent, timestamp: timestamp, bytes: bytes))
            }
            delivered += 1
        }
        return delivered
    }

    private func account(sequence: UInt64?) {
        guard let sequence else { return }
        if let last = lastSequence, sequence > last &+ 1 {
            let missing = sequence - last - 1
            if overrunSinceLast { lostInOverruns &+= missing } else { sequenceSkipped &+= missing }
        }
        overrunSinceLast = false
        lastSequence = max(lastSequence ?? 0, sequence)
    }

    private func takeContextLookup(at timestamp: UInt64) -> Bool {
        let second = Int64(timestamp / 1_000_000_000)
        if contextLookups.second != second { contextLookups = (second, 0) }
        guard contextLookups.count < maxContextLookupsPerSecond else {
            contextSkipped &+= 1
            return false
        }
        contextLookups.count += 1
        return true
    }

    public var losses: [LossCount] {
        [
            LossCount(name: "uevent overrun", count: overruns, kind: .occurrences),
            LossCount(name: "uevents lost in overruns", count: lostInOverruns, kind: .events),
            LossCount(name: "uevent seqnums not received (sent to other network namespaces)", count: sequenceSkipped, kind: .information),
            LossCount(name: "uevent context lookups skipped (over 64 a second)", count: contextSkipped, kind: .information),
            LossCount(name: "uevent truncated", count: truncated, kind: .events),
            LossCount(name: "uevent not from kernel", count: foreignSenders, kind: .information),
            LossCount(name: "uevent receive errors", count: receiveErrors, kind: .occurrences),
        ]
    }

    public func close() {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }
}
