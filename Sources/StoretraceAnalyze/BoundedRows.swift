/// Rows found by key, at most `limit` of them: a key that comes after the
/// limit gets no row, and what it brought is counted instead (`leftOut`).
/// The per-device tables of the summaries (`StorageSummary`'s read-ahead
/// periods, a report's copy charts) keep their memory bounded this way.
public struct BoundedRows<Key: Hashable, Row> {
    public private(set) var rows: [Row] = []
    private var index: [Key: Int] = [:]
    public let limit: Int
    /// Additions refused because the table was full.
    public private(set) var leftOut: UInt64 = 0

    public init(limit: Int) {
        self.limit = limit
    }

    /// The row of `key`, made by `make` the first time it is seen; nil (and
    /// counted) for a new key past the limit.
    public mutating func row(for key: Key, orAdd make: () -> Row) -> Int? {
        if let known = index[key] { return known }
        guard rows.count < limit else {
            leftOut &+= 1
            return nil
        }
        index[key] = rows.count
        rows.append(make())
        return rows.count - 1
    }

    public subscript(position: Int) -> Row {
        get { rows[position] }
        _modify { yield &rows[position] }
    }
}

extension BoundedRows: Sendable where Key: Sendable, Row: Sendable {}
