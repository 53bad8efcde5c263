import StoretraceDecode
import StoretraceRecords

/// The consumers or analyzers the pipeline calls for every record, as a
/// chain of `let`s.
///
/// Why not an array: iterating an array of class existentials kept in a
/// `var` retained and released the array and each element for every record
/// (the callee might have changed the array), 7 pairs per event with the
/// printer and three analyzers: a tenth of `replay --json` and a fifth of
/// `replay --no-output` (BENCHMARKS.md, issue 9). An element reached through
/// `let`s of a live chain cannot go away during the call, so the compiler
/// passes it borrowed, and the walk is a loop of indirect calls.
final class CallChain<Element> {
    let element: Element
    let next: CallChain?

    private init(_ element: Element, next: CallChain?) {
        self.element = element
        self.next = next
    }

    /// The elements in order; nil for none.
    static func of(_ elements: [Element]) -> CallChain? {
        elements.reversed().reduce(nil) { CallChain($1, next: $0) }
    }
}

extension CallChain where Element == any EventConsumer {
    func consume(_ event: Event, raw: RawRecord) {
        element.consume(event, raw: raw)
        next?.consume(event, raw: raw)
    }

    /// The first reason a consumer gives to stop.
    var stopReason: StopReason? {
        if let reason = element.stopReason { return reason }
        return next?.stopReason
    }
}

extension CallChain where Element == any EventAnalyzer {
    func observe(_ event: Event, raw: RawRecord) {
        element.observe(event, raw: raw)
        next?.observe(event, raw: raw)
    }
}

/// Which events an analyzer is shown (`EventAnalyzer.observes`): one route
/// per syscall kind and one per other event type. The pipeline calls an
/// analyzer only for the routes it observes, so a copy storm's calls cost
/// nothing in analyzers of mount calls, kernel messages or queue settings
/// (an existential call each per record before).
public struct EventRoutes: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Syscall kinds take bits 0..<16 by raw value, the other types the bits after.
    public static func syscall(_ kind: SyscallKind) -> EventRoutes { EventRoutes(rawValue: 1 << UInt64(kind.rawValue)) }
    public static let syscalls = EventRoutes(SyscallKind.allCases.map(syscall))
    /// The calls a mount operation is made of (`SyscallKind.isMountFamily`).
    public static let mountFamilyCalls = EventRoutes(SyscallKind.allCases.filter(\.isMountFamily).map(syscall))
    public static let uevent = EventRoutes(rawValue: 1 << 16)
    public static let kmsg = EventRoutes(rawValue: 1 << 17)
    public static let ftrace = EventRoutes(rawValue: 1 << 18)
    public static let holders = EventRoutes(rawValue: 1 << 19)
    public static let claim = EventRoutes(rawValue: 1 << 20)
    public static let queueSetting = EventRoutes(rawValue: 1 << 21)
    public static let mountOperation = EventRoutes(rawValue: 1 << 22)
    public static let mountHealth = EventRoutes(rawValue: 1 << 23)
    public static let all = EventRoutes(rawValue: ~0)
    /// The size of a table indexed by `index(of:)`.
    static let count = 24

    /// The route of `event`.
    @inline(__always)
    public static func route(of event: Event) -> EventRoutes {
        switch event {
        case .syscall(let record): .syscall(record.kind)
        case .uevent: .uevent
        case .kmsg: .kmsg
        case .ftrace: .ftrace
        case .holders: .holders
        case .claim: .claim
        case .queueSetting: .queueSetting
        case .mountOperation: .mountOperation
        case .mountHealth: .mountHealth
        }
    }

    init(index: Int) { rawValue = 1 << UInt64(index) }

    /// The index of a single route's bit.
    @inline(__always)
    var index: Int { rawValue.trailingZeroBitCount }
}
