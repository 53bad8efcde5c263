/// What a report puts first: each failure with what explains it (the
/// holders a scan found, the mount operation it ended, the device's mounts
/// a kernel log line names), unhealthy mounts, settings that changed, and
/// mount operations left unfinished. The same failure repeated (a retry
/// loop, a kernel message that loops) is one finding with a count; past
/// `ReportLimits.findings` distinct ones, the rest are counted.
struct Finding {
    enum Kind: Int, CaseIterable {
        case failure, unhealthyMount, settingChange, unfinished

        var heading: String {
            switch self {
            case .failure: "Failures"
            case .unhealthyMount: "Unhealthy mounts"
            case .settingChange: "Setting changes"
            case .unfinished: "Unfinished mount operations"
            }
        }
    }

    var kind: Kind
    /// The first occurrence's lines, as `replay` prints them.
    var text: [UInt8]
    /// What explains it, each as `replay` prints it (holder lines, the
    /// mount_op line) or as the report words it (copies per read-ahead).
    var explanations: [[UInt8]] = []
    var count: UInt64 = 1
    var first: UInt64
    var last: UInt64
    /// The first occurrence on the timeline.
    var place: MarkRef
}

struct Findings {
    private(set) var list: [Finding] = []
    private var byKey: [[UInt8]: Int] = [:]
    /// Occurrences of findings past the limit, and how many distinct ones.
    private(set) var notListed: UInt64 = 0
    private(set) var distinctNotListed: UInt64 = 0
    private var keysNotListed = Set<[UInt8]>()
    /// The failed calls seen last, by process, thread and entry stamp: where
    /// a holder scan or a mount operation that explains one finds its mark
    /// and its finding.
    private var recentCalls: [CallKey: (finding: Int?, place: MarkRef)] = [:]
    private var recentOrder: [CallKey] = []
    private var recentNext = 0
    let limit: Int
    static let recentLimit = 1024

    struct CallKey: Hashable {
        var pid: UInt32
        var tid: UInt32
        var time: UInt64
    }

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts an occurrence of the finding `key` (its first occurrence's
    /// `text` kept); returns its index in `list`, nil past the limit.
    @discardableResult
    mutating func add(_ kind: Finding.Kind, key: [UInt8], at time: UInt64, place: MarkRef, text: () -> [UInt8]) -> Int? {
        if let index = byKey[key] {
            list[index].count &+= 1
            list[index].last = max(list[index].last, time)
            return index
        }
        guard list.count < limit else {
            notListed &+= 1
            // The distinct ones are counted up to a bound of their own.
            if keysNotListed.count < 4 * limit, keysNotListed.insert(key).inserted { distinctNotListed &+= 1 }
            return nil
        }
        byKey[key] = list.count
        list.append(Finding(kind: kind, text: text(), first: time, last: time, place: place))
        return list.count - 1
    }

    /// A failed call, remembered so that what explains it can join it (a
    /// bounded ring of the latest).
    mutating func remember(_ call: CallKey, finding: Int?, place: MarkRef) {
        if recentOrder.count < Self.recentLimit {
            recentOrder.append(call)
        } else {
            recentCalls[recentOrder[recentNext]] = nil
            recentOrder[recentNext] = call
            recentNext = (recentNext + 1) % Self.recentLimit
        }
        recentCalls[call] = (finding, place)
    }

    /// The mark of a remembered call, and its finding when the call is that
    /// finding's first occurrence (the one shown): a repeated failure keeps
    /// the explanation of its first.
    func lookup(_ call: CallKey) -> (finding: Int?, place: MarkRef)? {
        guard let (finding, place) = recentCalls[call] else { return nil }
        guard let finding, list[finding].place == place else { return (nil, place) }
        return (finding, place)
    }

    /// Adds what explains a finding (each text once).
    mutating func explain(_ index: Int, with lines: [UInt8]) {
        guard !list[index].explanations.contains(lines) else { return }
        list[index].explanations.append(lines)
    }
}
