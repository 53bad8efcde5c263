import StoretraceDecode

/// Assembles mount operations from syscall records, one record at a time in
/// time order, and reports each through `onOperation` when it completes,
/// fails or can no longer finish.
///
/// The new mount API hands a file descriptor from call to call; the tracker
/// follows them per process (pid = thread group id: descriptors are shared
/// by its threads, so two threads working on different descriptors make two
/// operations, and one operation may span threads):
///
///     fsopen ─fd─▶ fsconfig … CMD_CREATE ─▶ fsmount ─fd─▶ [mount_setattr] ─▶ move_mount   new mount
///     fspick ─fd─▶ fsconfig … CMD_RECONFIGURE                                            remount
///     open_tree(CLONE) ─fd─▶ [mount_setattr] ─▶ move_mount                               bind
///     open_tree ─fd─▶ move_mount | mount_setattr | fspick(fd, "") …                      move, flags, remount
///
/// When an operation ends. close(2) is not traced, so an operation ends at
/// the call that makes its change take effect: move_mount of its mount
/// descriptor, FSCONFIG_CMD_RECONFIGURE, or mount_setattr on a mount that is
/// already attached. A later call on the same descriptor (util-linux sets
/// propagation after move_mount) is reported as an operation of its own,
/// named after the mount the descriptor was remembered to refer to. An
/// operation fails at its first failing call (libmount gives up there, and
/// after a failed CMD_CREATE the kernel refuses the context anyway); the
/// kernel keeps a context usable after a rejected parameter, so a process
/// that goes on with the descriptor resumes the operation with what it had
/// set, reported as a new operation counting the calls from there. It is
/// reported incomplete, never dropped, when its descriptor number is
/// returned by another call of the process (it must have been closed), when
/// the process exits (`processExited(pid:at:)`), when tracing stops
/// (`finish(at:)`), or when a limit evicts it. mount(2) and umount2(2) are
/// operations of one call.
///
/// Records of the copy calls are rejected by the first switch. The state is
/// bounded by `MountOperationLimits`; what a limit costs is counted in
/// `counters`. Not thread-safe: call it from the pipeline's one loop.
public final class MountOperationTracker {
    public typealias Handler = (MountOperation) -> Void

    public private(set) var counters = MountOperationCounters()
    private let onOperation: Handler
    private var processes: [UInt32: ProcessState] = [:]
    private var pendingTotal = 0
    /// Orders pending operations by creation, for eviction.
    private var sequence: UInt64 = 0

    public init(onOperation: @escaping Handler) {
        self.onOperation = onOperation
    }

    /// Unfinished operations held now, over all processes.
    public var pendingOperations: Int { pendingTotal }
    /// Processes with unfinished operations or remembered descriptors.
    public var trackedProcesses: Int { processes.count }
    /// The processes that have unfinished operations: the ones whose exit
    /// matters (a liveness check off the hot path needs only these).
    public var processesWithPendingOperations: [UInt32] {
        processes.values.filter { !$0.pending.isEmpty }.map(\.pid).sorted()
    }

    /// Feeds one decoded record. Strings are copied out: the record may be
    /// a view into ring memory that is gone after this call.
    public func track(_ record: SyscallRecord) {
        switch record.kind {
        case .copyFileRange, .splice, .sendfile, .rmdir, .unlinkat: return
        case .mount: classicMount(record)
        case .umount: unmount(record)
        case .fsopen: fsopen(record)
        case .fspick: fspick(record)
        case .fsconfig: fsconfig(record)
        case .fsmount: fsmount(record)
        case .openTree: openTree(record)
        case .mountSetattr: mountSetattr(record)
        case .moveMount: moveMount(record)
        }
    }

    /// The process `pid` exited at `time` (CLOCK_MONOTONIC ns): its
    /// unfinished operations are reported incomplete and its state freed.
    public func processExited(pid: UInt32, at time: UInt64) {
        guard let state = processes.removeValue(forKey: pid) else { return }
        while !state.pending.isEmpty { end(state, 0, .processExited, at: time) }
    }

    /// Tracing stopped at `time`: every unfinished operation is reported
    /// incomplete, oldest first, and all state is freed.
    public func finish(at time: UInt64) {
        var left: [(UInt32, Pending)] = []
        for (pid, state) in processes { left += state.pending.map { (pid, $0) } }
        processes.removeAll()
        pendingTotal = 0
        for (_, pending) in left.sorted(by: { $0.1.sequence < $1.1.sequence }) {
            report(pending, .incomplete(pending.stage, .tracingStopped), end: time)
        }
    }

    // MARK: - State

    /// What a descriptor an operation holds stands for.
    enum Kind: Equatable {
        /// fsopen: a new superblock to configure and create.
        case filesystem
        /// fspick: an existing superblock to reconfigure.
        case reconfigure
        /// open_tree(OPEN_TREE_CLONE): a detached copy of a tree.
        case clone(recursive: Bool)
        /// open_tree without CLONE: an attached mount, by reference.
        case tree
        /// A descriptor whose origin was not seen.
        case unknownContext
    }

    struct Pending {
        var operation: MountOperation
        var kind: Kind
        /// The fsopen / fspick descriptor.
        var contextFD: Int32?
        /// The fsmount / open_tree descriptor.
        var mountFD: Int32?
        var created = false
        var optionBytes = 0
        var sequence: UInt64

        var stage: MountOperation.Stage {
            switch kind {
            case .filesystem, .unknownContext: mountFD != nil ? .notAttached : created ? .notMounted : .notCreated
            case .reconfigure: .notReconfigured
            case .clone: .notAttached
            case .tree: .nothingDone
            }
        }
    }

    /// A descriptor of an operation that ended, and what it referred to.
    struct Remembered {
        enum Role { case context, reconfigure, mount }
        var fd: Int32
        var role: Role
        var location: MountOperation.Location?
        var fstype: [UInt8]?
        /// The operation, if it ended in a failed call: the kernel keeps a
        /// context usable after a rejected parameter, so a process may go
        /// on with this descriptor, and what it had set still holds.
        var interrupted: Pending?
    }

    final class ProcessState {
        let pid: UInt32
        var pending: [Pending] = []
        var remembered: [Remembered] = []
        var lastActivity: UInt64 = 0

        init(pid: UInt32) { self.pid = pid }

        func pendingIndex(contextFD fd: Int32) -> Int? { pending.firstIndex { $0.contextFD == fd } }
        func pendingIndex(mountFD fd: Int32) -> Int? { pending.firstIndex { $0.mountFD == fd } }
        func remembered(_ fd: Int32) -> Remembered? { remembered.first { $0.fd == fd } }
    }

    private func state(for record: SyscallRecord) -> ProcessState {
        let pid = record.pid
        if let state = processes[pid] {
            state.lastActivity = record.timestamp
            return state
        }
        if processes.count >= MountOperationLimits.processes, let oldest = processes.min(by: { $0.value.lastActivity < $1.value.lastActivity }) {
            processes.removeValue(forKey: oldest.key)
            if oldest.value.pending.isEmpty {
                counters.descriptorsForgotten += UInt64(oldest.value.remembered.count)
            } else {
                counters.processesEvicted += 1
            }
            while !oldest.value.pending.isEmpty { end(oldest.value, 0, .evicted, at: record.timestamp) }
        }
        let state = ProcessState(pid: pid)
        state.lastActivity = record.timestamp
        processes[pid] = state
        return state
    }

    private func insert(_ pending: Pending, into state: ProcessState, at time: UInt64) {
        if state.pending.count >= MountOperationLimits.operationsPerProcess {
            counters.operationsEvicted += 1
            end(state, 0, .evicted, at: time)
        }
        if pendingTotal >= MountOperationLimits.operations, let oldest = oldestPending() {
            counters.operationsEvicted += 1
            end(oldest.state, oldest.index, .evicted, at: time)
            // Another process may now hold nothing (this one gets `pending` next).
            if oldest.state !== state && oldest.state.pending.isEmpty && oldest.state.remembered.isEmpty {
                processes.removeValue(forKey: oldest.state.pid)
            }
        }
        state.pending.append(pending)
        pendingTotal += 1
    }

    private func oldestPending() -> (state: ProcessState, index: Int)? {
        var best: (state: ProcessState, index: Int, sequence: UInt64)?
        for state in processes.values {
            for (index, pending) in state.pending.enumerated() where best == nil || pending.sequence < best!.sequence {
                best = (state, index, pending.sequence)
            }
        }
        return best.map { ($0.state, $0.index) }
    }

    private func remember(_ fd: Int32?, _ role: Remembered.Role, of operation: MountOperation, in state: ProcessState,
                          interrupted: Pending? = nil) {
        guard let fd else { return }
        state.remembered.removeAll { $0.fd == fd }
        if state.remembered.count >= MountOperationLimits.rememberedDescriptorsPerProcess {
            state.remembered.removeFirst()
            counters.descriptorsForgotten += 1
        }
        let location = operation.target ?? operation.source
        state.remembered.append(Remembered(fd: fd, role: role, location: location, fstype: operation.fstype,
                                           interrupted: interrupted))
    }

    /// A call returned descriptor `fd`: whatever held that number before
    /// had been closed.
    private func descriptorReturned(_ fd: Int32, in state: ProcessState, at time: UInt64) {
        state.remembered.removeAll { $0.fd == fd }
        var index = 0
        while index < state.pending.count {
            let pending = state.pending[index]
            if pending.mountFD == fd || (pending.contextFD == fd && pending.mountFD == nil) {
                end(state, index, .descriptorReused(fd), at: time)
                continue
            }
            // After fsmount the mount descriptor carries the operation on;
            // closing the context descriptor is what libmount does.
            if pending.contextFD == fd { state.pending[index].contextFD = nil }
            index += 1
        }
    }

    // MARK: - Reporting

    private func report(_ pending: Pending, _ outcome: MountOperation.Outcome, end: UInt64? = nil) {
        var operation = pending.operation
        operation.outcome = outcome
        if let end { operation.end = max(operation.end, end) }
        counters.reported += 1
        onOperation(operation)
    }

    private func end(_ state: ProcessState, _ index: Int, _ reason: MountOperation.EndReason, at time: UInt64) {
        let pending = state.pending.remove(at: index)
        pendingTotal -= 1
        report(pending, .incomplete(pending.stage, reason), end: time)
    }

    /// The operation took effect (succeeded) or failed at `record`: report
    /// it, and remember its descriptors for calls that follow on them.
    private func conclude(_ state: ProcessState, _ index: Int, _ record: SyscallRecord) {
        let pending = state.pending.remove(at: index)
        pendingTotal -= 1
        report(pending, outcome(of: record))
        // After a failure the descriptor that carries the operation on
        // (the mount one once there is one) keeps it, to be resumed.
        let interrupted = record.errno == nil ? nil : pending
        let contextRole: Remembered.Role = pending.kind == .reconfigure ? .reconfigure : .context
        remember(pending.contextFD, contextRole, of: pending.operation, in: state,
                 interrupted: pending.mountFD == nil ? interrupted : nil)
        remember(pending.mountFD, .mount, of: pending.operation, in: state, interrupted: interrupted)
    }

    /// A process went on with the descriptor of an operation that failed:
    /// the operation resumes with what it had, counting calls anew from
    /// `record` (which the caller adds).
    private func resume(_ fd: Int32, mount: Bool, _ record: SyscallRecord, in state: ProcessState) -> Int? {
        guard let index = state.remembered.firstIndex(where: { $0.fd == fd && ($0.role == .mount) == mount }),
              var pending = state.remembered[index].interrupted else { return nil }
        state.remembered.remove(at: index)
        var fresh = begin(record, pending.operation.action)
        fresh.tids = []
        fresh.calls = []
        fresh.latency = 0
        fresh.end = record.timestamp
        fresh.fstype = pending.operation.fstype
        fresh.source = pending.operation.source
        fresh.target = pending.operation.target
        fresh.options = pending.operation.options
        fresh.optionsDropped = pending.operation.optionsDropped
        fresh.attrSet = pending.operation.attrSet
        fresh.attrClear = pending.operation.attrClear
        fresh.propagation = pending.operation.propagation
        fresh.recursive = pending.operation.recursive
        pending.operation = fresh
        sequence += 1
        pending.sequence = sequence
        pending.contextFD = mount ? nil : fd
        pending.mountFD = mount ? fd : nil
        insert(pending, into: state, at: record.timestamp)
        return state.pending.count - 1
    }

    /// The pending operation whose mount descriptor is `fd`, resumed if it
    /// had failed.
    private func mountOperation(_ fd: Int32, _ record: SyscallRecord, in state: ProcessState) -> Int? {
        state.pendingIndex(mountFD: fd) ?? resume(fd, mount: true, record, in: state)
    }

    private func outcome(of record: SyscallRecord) -> MountOperation.Outcome {
        guard let errno = record.errno else { return .succeeded }
        return .failed(MountOperation.FailedCall(kind: record.kind, errno: errno, record: Array(record.bytes)))
    }

    /// A one-call operation (or a first call that failed): reported at once.
    private func reportSingle(_ operation: MountOperation, _ record: SyscallRecord) {
        var operation = operation
        operation.outcome = outcome(of: record)
        counters.reported += 1
        onOperation(operation)
    }

    // MARK: - Building

    private func begin(_ record: SyscallRecord, _ action: MountOperation.Action) -> MountOperation {
        MountOperation(pid: record.pid, tids: [record.tid], comm: Array(record.comm),
                       mountNamespace: record.mountNamespace, start: record.timestamp,
                       end: record.timestamp &+ record.latency, latency: record.latency,
                       calls: [MountOperation.CallRun(kind: record.kind, count: 1)], action: action,
                       outcome: .succeeded)
    }

    private func newPending(_ record: SyscallRecord, _ kind: Kind, _ action: MountOperation.Action) -> Pending {
        sequence += 1
        return Pending(operation: begin(record, action), kind: kind, sequence: sequence)
    }

    /// Adds a later call to an operation.
    private func addCall(_ record: SyscallRecord, to operation: inout MountOperation) {
        let tid = record.tid
        if !operation.tids.contains(tid) {
            if operation.tids.count < MountOperationLimits.threadsPerOperation {
                operation.tids.append(tid)
            } else {
                counters.threadsNotListed += 1
            }
        }
        if let last = operation.calls.indices.last, operation.calls[last].kind == record.kind {
            operation.calls[last].count += 1
        } else if operation.calls.count < MountOperationLimits.callRunsPerOperation {
            operation.calls.append(MountOperation.CallRun(kind: record.kind, count: 1))
        } else {
            operation.callsNotListed += 1
            counters.callsNotListed += 1
        }
        operation.latency &+= record.latency
        operation.end = max(operation.end, record.timestamp &+ record.latency)
    }

    private func addOption(_ option: MountOperation.Option, to pending: inout Pending) {
        let size = option.key.count + { if case .string(let value) = option.value { value.count } else { 0 } }()
        guard pending.operation.options.count < MountOperationLimits.optionsPerOperation,
              pending.optionBytes + size <= MountOperationLimits.optionBytesPerOperation else {
            pending.operation.optionsDropped += 1
            counters.optionsDropped += 1
            return
        }
        pending.optionBytes += size
        pending.operation.options.append(option)
    }

    private static let sourceKey = Array("source".utf8)

    private static func copy(_ text: UnsafeRawBufferPointer?) -> [UInt8]? { text.map { Array($0) } }

    /// Where `record.string(index)` points, relative to `dfd`: resolved
    /// through a descriptor the process is known to hold where possible.
    private func resolve(_ dfd: Int32, _ record: SyscallRecord, _ index: Int, in state: ProcessState?) -> MountOperation.Location? {
        guard let text = record.string(index) else { return nil }
        let path = Array(text)
        if path.first == UInt8(ascii: "/") || dfd == FlagTables.atFDCWD { return .init(path: path) }
        let base: MountOperation.Location?
        if let state, let index = state.pendingIndex(mountFD: dfd) {
            // An attached tree (open_tree without CLONE, perhaps joined by
            // fspick) has the path it was opened at; a detached mount has none yet.
            let pending = state.pending[index]
            base = pending.kind == .tree || pending.kind == .reconfigure ? pending.operation.target ?? pending.operation.source : nil
        } else {
            base = state?.remembered(dfd)?.location
        }
        guard var base else { return .init(path: path, unresolvedDescriptor: dfd) }
        if !path.isEmpty {
            if base.path.last != UInt8(ascii: "/") { base.path.append(UInt8(ascii: "/")) }
            base.path += path
        }
        return base
    }

    /// True if the path argument is empty or NULL: the call works on the
    /// descriptor itself (AT_EMPTY_PATH and friends).
    private static func onDescriptorItself(_ record: SyscallRecord, _ index: Int) -> Bool {
        record.string(index)?.isEmpty ?? true
    }

    private static func returnedFD(_ record: SyscallRecord) -> Int32 { Int32(truncatingIfNeeded: record.returnValue) }

    // MARK: - The calls

    private func fsopen(_ record: SyscallRecord) {
        var operation = begin(record, .newMount)
        operation.fstype = Self.copy(record.string(0))
        guard record.errno == nil else { return reportSingle(operation, record) }
        let state = state(for: record)
        let fd = Self.returnedFD(record)
        descriptorReturned(fd, in: state, at: record.timestamp)
        var pending = newPending(record, .filesystem, .newMount)
        pending.operation = operation
        pending.contextFD = fd
        insert(pending, into: state, at: record.timestamp)
    }

    private func fspick(_ record: SyscallRecord) {
        let dfd = record.intArg(0)
        let state = processes[record.pid]
        var operation = begin(record, .remount)
        operation.target = resolve(dfd, record, 0, in: state)
        guard record.errno == nil else {
            if let state, Self.onDescriptorItself(record, 0), let index = state.pendingIndex(mountFD: dfd) {
                addCall(record, to: &state.pending[index].operation)
                return conclude(state, index, record)
            }
            return reportSingle(operation, record)
        }
        let process = self.state(for: record)
        let fd = Self.returnedFD(record)
        descriptorReturned(fd, in: process, at: record.timestamp)
        // util-linux: open_tree(target) then fspick(tree, "", FSPICK_EMPTY_PATH): one remount.
        if Self.onDescriptorItself(record, 0), let index = process.pendingIndex(mountFD: dfd), process.pending[index].kind == .tree {
            addCall(record, to: &process.pending[index].operation)
            process.pending[index].kind = .reconfigure
            process.pending[index].contextFD = fd
            process.pending[index].operation.action = .remount
            process.pending[index].operation.target = process.pending[index].operation.source
            process.pending[index].operation.source = nil
            return
        }
        var pending = newPending(record, .reconfigure, .remount)
        pending.operation = operation
        pending.contextFD = fd
        insert(pending, into: process, at: record.timestamp)
    }

    /// The pending operation a call on context descriptor `fd` belongs to;
    /// one is started for a descriptor whose origin was not seen, with what
    /// is remembered of it.
    private func contextOperation(_ fd: Int32, _ record: SyscallRecord, in state: ProcessState) -> Int {
        if let index = state.pendingIndex(contextFD: fd) ?? resume(fd, mount: false, record, in: state) {
            addCall(record, to: &state.pending[index].operation)
            return index
        }
        var pending: Pending
        if let known = state.remembered(fd), known.role != .mount {
            let reconfigure = known.role == .reconfigure
            pending = newPending(record, reconfigure ? .reconfigure : .filesystem, reconfigure ? .remount : .newMount)
            pending.operation.fstype = known.fstype
            if reconfigure { pending.operation.target = known.location }
        } else {
            pending = newPending(record, .unknownContext, .unknown)
            pending.operation.source = .init(path: [], unresolvedDescriptor: fd)
        }
        pending.contextFD = fd
        insert(pending, into: state, at: record.timestamp)
        return state.pending.count - 1
    }

    /// An operation of unknown origin showed it is a new filesystem.
    private static func becomeFilesystem(_ pending: inout Pending) {
        guard pending.kind == .unknownContext else { return }
        pending.kind = .filesystem
        pending.operation.action = .newMount
        if let source = pending.operation.source, source.path.isEmpty, source.unresolvedDescriptor != nil {
            pending.operation.source = nil // the placeholder "fd N": the description says "new mount"
        }
    }

    private func fsconfig(_ record: SyscallRecord) {
        let state = state(for: record)
        let index = contextOperation(record.intArg(0), record, in: state)
        guard record.errno == nil else { return conclude(state, index, record) }
        let key = Self.copy(record.string(0)) ?? []
        let aux = record.intArg(4)
        switch record.arg(1) {
        case 0: // FSCONFIG_SET_FLAG
            addOption(.init(key: key, value: .flag), to: &state.pending[index])
        case 1, 3, 4: // FSCONFIG_SET_STRING, SET_PATH, SET_PATH_EMPTY
            let value = Self.copy(record.string(1)) ?? []
            if key == Self.sourceKey {
                state.pending[index].operation.source = .init(path: value)
            } else {
                addOption(.init(key: key, value: .string(value)), to: &state.pending[index])
            }
        case 2: // FSCONFIG_SET_BINARY
            addOption(.init(key: key, value: .binary(size: aux)), to: &state.pending[index])
        case 5: // FSCONFIG_SET_FD
            addOption(.init(key: key, value: .descriptor(aux)), to: &state.pending[index])
        case 6, 8: // FSCONFIG_CMD_CREATE, CMD_CREATE_EXCL
            state.pending[index].created = true
            Self.becomeFilesystem(&state.pending[index])
        case 7: // FSCONFIG_CMD_RECONFIGURE: the change took effect
            state.pending[index].operation.action = .remount
            conclude(state, index, record)
        default:
            break // a command newer than this table: counted as a call, nothing more
        }
    }

    private func fsmount(_ record: SyscallRecord) {
        let state = state(for: record)
        if record.errno == nil { descriptorReturned(Self.returnedFD(record), in: state, at: record.timestamp) }
        let index = contextOperation(record.intArg(0), record, in: state)
        guard record.errno == nil else { return conclude(state, index, record) }
        state.pending[index].mountFD = Self.returnedFD(record)
        state.pending[index].created = true
        state.pending[index].operation.attrSet |= record.arg(2)
        Self.becomeFilesystem(&state.pending[index])
    }

    private func openTree(_ record: SyscallRecord) {
        let flags = record.arg(2)
        let clone = flags & 0x1 != 0 // OPEN_TREE_CLONE
        let recursive = flags & 0x8000 != 0 // AT_RECURSIVE
        let kind: Kind = clone ? .clone(recursive: recursive) : .tree
        let action: MountOperation.Action = clone ? .bind(recursive: recursive) : .unknown
        var operation = begin(record, action)
        operation.source = resolve(record.intArg(0), record, 0, in: processes[record.pid])
        guard record.errno == nil else { return reportSingle(operation, record) }
        let state = state(for: record)
        let fd = Self.returnedFD(record)
        descriptorReturned(fd, in: state, at: record.timestamp)
        var pending = newPending(record, kind, action)
        pending.operation = operation
        pending.mountFD = fd
        insert(pending, into: state, at: record.timestamp)
    }

    private func mountSetattr(_ record: SyscallRecord) {
        let dfd = record.intArg(0)
        let recursive = record.arg(2) & 0x8000 != 0 // AT_RECURSIVE
        let state = processes[record.pid]
        if let state, Self.onDescriptorItself(record, 0), let index = mountOperation(dfd, record, in: state) {
            state.lastActivity = record.timestamp
            addCall(record, to: &state.pending[index].operation)
            Self.apply(record, recursive: recursive, to: &state.pending[index].operation)
            guard record.errno == nil else { return conclude(state, index, record) }
            if state.pending[index].kind == .tree {
                // An attached mount: the change took effect now.
                let operation = state.pending[index].operation
                state.pending[index].operation.action = operation.attrSet | operation.attrClear != 0 ? .mountFlags : .propagation
                state.pending[index].operation.target = operation.source
                state.pending[index].operation.source = nil
                conclude(state, index, record)
            }
            return // a detached mount (fsmount, clone) or a remount in progress: more to come
        }
        var operation = begin(record, .mountFlags)
        operation.target = resolve(dfd, record, 0, in: state)
        Self.apply(record, recursive: recursive, to: &operation)
        operation.action = operation.attrSet | operation.attrClear != 0 ? .mountFlags : .propagation
        reportSingle(operation, record)
    }

    private static func apply(_ record: SyscallRecord, recursive: Bool, to operation: inout MountOperation) {
        operation.attrSet |= record.attrSet
        operation.attrClear |= record.attrClear
        if record.attrPropagation != 0 { operation.propagation = record.attrPropagation }
        operation.recursive = operation.recursive || recursive
    }

    private func moveMount(_ record: SyscallRecord) {
        let fromDFD = record.intArg(0)
        let setGroup = record.arg(4) & 0x100 != 0 // MOVE_MOUNT_SET_GROUP
        let state = processes[record.pid]
        let target = resolve(record.intArg(2), record, 1, in: state)
        if !setGroup, let state, Self.onDescriptorItself(record, 0), let index = mountOperation(fromDFD, record, in: state) {
            state.lastActivity = record.timestamp
            addCall(record, to: &state.pending[index].operation)
            let pending = state.pending[index]
            switch pending.kind {
            case .filesystem, .unknownContext: state.pending[index].operation.action = .newMount
            case .clone(let recursive): state.pending[index].operation.action = .bind(recursive: recursive)
            case .tree, .reconfigure: state.pending[index].operation.action = .move
            }
            state.pending[index].operation.target = target
            return conclude(state, index, record)
        }
        var operation = begin(record, setGroup ? .propagation : .move)
        operation.source = resolve(fromDFD, record, 0, in: state)
        operation.target = target
        reportSingle(operation, record)
        // A remembered mount descriptor moved: it now refers to the new place.
        if !setGroup, record.errno == nil, Self.onDescriptorItself(record, 0),
           let state, let index = state.remembered.firstIndex(where: { $0.fd == fromDFD && $0.role == .mount }) {
            state.remembered[index].location = target
        }
    }

    private func classicMount(_ record: SyscallRecord) {
        var flags = record.arg(3)
        if flags & 0xffff_0000 == 0xC0ED_0000 { flags &= 0xffff } // MS_MGC_VAL, dropped as the kernel does
        let remount = flags & 0x20 != 0, bind = flags & 0x1000 != 0, move = flags & 0x2000 != 0
        let recursive = flags & 0x4000 != 0
        let propagation = flags & 0x1E_0000 // MS_UNBINDABLE | MS_PRIVATE | MS_SLAVE | MS_SHARED
        let action: MountOperation.Action =
            remount ? (bind ? .mountFlags : .remount)
            : bind ? .bind(recursive: recursive)
            : move ? .move
            : propagation != 0 ? .propagation
            : .newMount
        var operation = begin(record, action)
        operation.mountFlags = flags
        operation.target = Self.copy(record.string(1)).map { .init(path: $0) }
        switch action {
        case .newMount:
            operation.fstype = Self.copy(record.string(2))
            operation.source = Self.copy(record.string(0)).map { .init(path: $0) }
            addDataOptions(record.string(3), to: &operation)
        case .remount:
            addDataOptions(record.string(3), to: &operation)
        case .bind, .move:
            operation.source = Self.copy(record.string(0)).map { .init(path: $0) }
            operation.recursive = recursive
        case .propagation:
            operation.propagation = propagation
            operation.recursive = recursive
        default:
            break
        }
        reportSingle(operation, record)
    }

    /// mount(2)'s data as options: comma-separated `key` or `key=value`.
    private func addDataOptions(_ data: UnsafeRawBufferPointer?, to operation: inout MountOperation) {
        guard let data, !data.isEmpty else { return }
        var bytes = 0
        for item in data.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
            guard operation.options.count < MountOperationLimits.optionsPerOperation,
                  bytes + item.count <= MountOperationLimits.optionBytesPerOperation else {
                operation.optionsDropped += 1
                counters.optionsDropped += 1
                continue
            }
            bytes += item.count
            if let equals = item.firstIndex(of: UInt8(ascii: "=")) {
                operation.options.append(.init(key: Array(item[..<equals]), value: .string(Array(item[(equals + 1)...]))))
            } else {
                operation.options.append(.init(key: Array(item), value: .flag))
            }
        }
    }

    private func unmount(_ record: SyscallRecord) {
        var operation = begin(record, .unmount)
        operation.target = Self.copy(record.string(0)).map { .init(path: $0) }
        operation.unmountFlags = record.arg(1)
        reportSingle(operation, record)
    }
}
