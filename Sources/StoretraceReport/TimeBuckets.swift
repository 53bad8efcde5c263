/// What a time bucket adds up.
protocol BucketValue {
    init()
    mutating func merge(_ other: Self)
}

/// A fixed number of equal time buckets that widen as time goes on: when
/// an event falls past the last bucket, neighbouring buckets are merged in
/// pairs and the width doubles, until it fits. Memory is the bucket count,
/// whatever the span or the number of events; no span need be known ahead.
struct TimeBuckets<Value: BucketValue> {
    /// CLOCK_MONOTONIC ns where bucket 0 starts.
    let origin: UInt64
    /// Nanoseconds per bucket.
    private(set) var width: UInt64
    private(set) var slots: [Value]

    /// `count` is rounded up to an even number (buckets merge in pairs).
    init(origin: UInt64, width: UInt64, count: Int) {
        self.origin = origin
        self.width = max(width, 1)
        slots = Array(repeating: Value(), count: max(2, count + count % 2))
    }

    /// The bucket `time` falls in, widening the buckets first if it is past
    /// the last; a time before `origin` (a derived event stamped earlier)
    /// counts in the first.
    mutating func index(for time: UInt64) -> Int {
        guard time > origin else { return 0 }
        let offset = time - origin
        while offset / width >= UInt64(slots.count) {
            widen()
        }
        return Int(offset / width)
    }

    mutating func add(at time: UInt64, _ body: (inout Value) -> Void) {
        let slot = index(for: time)
        body(&slots[slot])
    }

    /// The bucket of `time` as the buckets stand (no widening): where a
    /// link to an event points.
    func slot(of time: UInt64) -> Int {
        guard time > origin else { return 0 }
        return Int(min((time - origin) / width, UInt64(slots.count - 1)))
    }

    /// Where bucket `index` starts, CLOCK_MONOTONIC ns.
    func start(of index: Int) -> UInt64 { origin &+ UInt64(index) &* width }

    private mutating func widen() {
        let half = slots.count / 2
        for index in 0..<half {
            var merged = slots[2 * index]
            merged.merge(slots[2 * index + 1])
            slots[index] = merged
        }
        for index in half..<slots.count { slots[index] = Value() }
        let (doubled, overflow) = width.multipliedReportingOverflow(by: 2)
        width = overflow ? .max / UInt64(slots.count) : doubled
    }
}
