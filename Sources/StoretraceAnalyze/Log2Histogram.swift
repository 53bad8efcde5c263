/// Counts of values by power of two, with count, sum, min and max: bucket 0
/// holds 0, bucket k (1...64) holds [2^(k-1), 2^k - 1]. Adding a value is a
/// bit count and an increment (no allocation once made).
public struct Log2Histogram: Equatable, Sendable {
    public private(set) var buckets: [UInt64] = Array(repeating: 0, count: 65)
    public private(set) var count: UInt64 = 0
    /// Saturates instead of wrapping.
    public private(set) var sum: UInt64 = 0
    public private(set) var min: UInt64 = .max
    public private(set) var max: UInt64 = 0

    public init() {}

    @inline(__always)
    public static func bucket(of value: UInt64) -> Int { 64 - value.leadingZeroBitCount }

    /// The smallest and largest value bucket `index` holds.
    public static func range(ofBucket index: Int) -> (lower: UInt64, upper: UInt64) {
        index == 0 ? (0, 0) : (1 << UInt64(index - 1), index == 64 ? .max : (1 << UInt64(index)) - 1)
    }

    @inline(__always)
    public mutating func add(_ value: UInt64) {
        buckets[Self.bucket(of: value)] &+= 1
        count &+= 1
        let (total, overflow) = sum.addingReportingOverflow(value)
        sum = overflow ? .max : total
        if value < min { min = value }
        if value > max { max = value }
    }

    /// Adds every value `other` holds: the histogram of both sets of values
    /// (a window of several seconds from one histogram per second).
    public mutating func merge(_ other: Log2Histogram) {
        guard other.count > 0 else { return }
        for index in buckets.indices { buckets[index] &+= other.buckets[index] }
        count &+= other.count
        let (total, overflow) = sum.addingReportingOverflow(other.sum)
        sum = overflow ? .max : total
        if other.min < min { min = other.min }
        if other.max > max { max = other.max }
    }

    /// The `percent` percentile (0 to 100) by nearest rank: the bucket that
    /// holds the value of rank ⌈percent/100 × count⌉ (at least 1), and within
    /// it the value as far from its lower end as the rank is into the
    /// bucket's count (linear), kept within the smallest and largest value
    /// added, so one value, the minimum and the maximum are exact. nil when
    /// empty.
    public func percentile(_ percent: Int) -> UInt64? {
        guard count > 0 else { return nil }
        let clamped = UInt64(Swift.min(Swift.max(percent, 0), 100))
        let (scaled, _) = count.multipliedReportingOverflow(by: clamped)
        let rank = Swift.max(1, (scaled + 99) / 100)
        var before: UInt64 = 0
        for (index, inBucket) in buckets.enumerated() where inBucket > 0 {
            if before + inBucket >= rank {
                let (lower, upper) = Self.range(ofBucket: index)
                let position = rank - before // 1...inBucket
                let product = (upper - lower).multipliedFullWidth(by: position)
                let offset = inBucket.dividingFullWidth(product).quotient
                return Swift.min(Swift.max(lower + offset, min), max)
            }
            before += inBucket
        }
        return max
    }

    /// The buckets from the first to the last that holds anything: (index, count).
    public var occupied: [(bucket: Int, count: UInt64)] {
        guard let first = buckets.firstIndex(where: { $0 > 0 }), let last = buckets.lastIndex(where: { $0 > 0 }) else { return [] }
        return (first...last).map { ($0, buckets[$0]) }
    }
}
