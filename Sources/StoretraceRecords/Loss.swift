/// What a loss counter counts, which decides whether it adds to "N lost".
public enum LossKind: Sendable, Equatable {
    /// Events that never reached storetrace (a full ring buffer, a record
    /// the kernel overwrote, a message cut short): added to the lost total.
    case events
    /// Times data was lost whose event count nobody knows (an overrun page,
    /// a socket overflow, a read error): shown, never added to a total of
    /// events.
    case occurrences
    /// Counted for the record, not lost: exits seen without their entry,
    /// strings that could not be read (the event is kept), forged messages.
    case information
}

/// A named loss counter of a source ("ring buffer full", "kmsg overrun").
/// The name is what captures store in their trailer and what the summary
/// shows; the kind says how to add it up.
public struct LossCount: Equatable, Sendable {
    public var name: String
    public var count: UInt64
    public var kind: LossKind

    public init(name: String, count: UInt64, kind: LossKind) {
        self.name = name
        self.count = count
        self.kind = kind
    }
}

extension Sequence where Element == LossCount {
    /// Events lost, summed over the counters that count events.
    public var lostEvents: UInt64 {
        reduce(0) { $0 &+ ($1.kind == .events ? $1.count : 0) }
    }

    /// The non-zero counters, in order: "12 ring buffer full, 1 ftrace
    /// overrun pages"; with `information: false` only those that mean data
    /// was lost.
    public func describeNonZero(information: Bool = true) -> String {
        filter { $0.count > 0 && (information || $0.kind != .information) }
            .map { "\($0.count) \($0.name)" }.joined(separator: ", ")
    }
}
