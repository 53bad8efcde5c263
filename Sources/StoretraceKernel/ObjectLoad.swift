import CLibbpf
import CStoretraceSys

/// bpf_object__load with the heap made ready for what libbpf copies of the
/// kernel's BTF: read from sysfs into one fresh block, copied into another,
/// 5.4 MB each here. Faulted in 4 KiB at a time that was about 2,800 page
/// faults and 5 ms of a 9 ms BTF load on the machine measured (BENCHMARKS.md,
/// "Start-up (issue 15 item 3)"); in a region advised for transparent huge
/// pages it is a few dozen. The free heap is given back after. Where the
/// heap cannot be prepared (no transparent huge pages), the load runs as
/// before.
enum ObjectLoad {
    /// What the load takes from the heap at its peak: the two BTF copies,
    /// its type index, libbpf's own tables; more simply comes from the heap
    /// beyond the region.
    static let heapBytes = 24 << 20

    /// bpf_object__load's result: 0, or a negative errno.
    static func load(_ object: OpaquePointer) -> Int32 {
        _ = st_heap_prepare_for_load(heapBytes)
        defer { st_heap_after_load() }
        return bpf_object__load(object)
    }
}
