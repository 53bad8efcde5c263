/// Storage for the tables built once per process (flag tables, the syscall
/// descriptions) and read for every event. An array would make each copy of
/// a table entry retain its buffer, and the renderers copy an entry per
/// argument: with the elements in memory that is never freed, an entry is a
/// plain value (pointer and count) that copies and iterates without
/// reference counting. Only for a bounded number of tables made at start-up.
public func permanentTable<Element>(_ elements: [Element]) -> UnsafeBufferPointer<Element> {
    let storage = UnsafeMutableBufferPointer<Element>.allocate(capacity: elements.count)
    _ = storage.initialize(from: elements)
    return UnsafeBufferPointer(storage)
}
