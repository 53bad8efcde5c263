/// Pure parsers for the text of tracefs and sysfs control files; the kernel
/// module reads the files, these read the text.

/// A sysfs CPU list such as /sys/devices/system/cpu/online: "0-3,8,10-11".
public enum CPUList {
    /// The CPUs in the list, in order; nil when it is empty or malformed (a
    /// range is bounded to 2^20 CPUs, so a corrupt file cannot exhaust memory).
    public static func parse(_ text: Substring) -> [Int]? {
        let trimmed = text.snapshotTrimmed
        guard !trimmed.isEmpty else { return nil }
        var cpus: [Int] = []
        for range in trimmed.split(separator: ",") {
            if let dash = range.firstIndex(of: "-") {
                guard let low = Int(range[..<dash]), let high = Int(range[range.index(after: dash)...]),
                      low >= 0, high >= low, high - low < 1 << 20
                else { return nil }
                cpus.append(contentsOf: low...high)
            } else {
                guard let cpu = Int(range), cpu >= 0 else { return nil }
                cpus.append(cpu)
            }
        }
        return cpus
    }
}

/// trace_clock: "local global [mono] mono_raw boot": the clocks this kernel
/// offers, the bracketed one in use.
public struct TraceClockList: Equatable, Sendable {
    public var available: [String]
    public var current: String?

    public init(_ text: String) {
        available = []
        current = nil
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if word.hasPrefix("[") && word.hasSuffix("]") && word.count >= 2 {
                let name = String(word.dropFirst().dropLast())
                current = name
                available.append(name)
            } else {
                available.append(String(word))
            }
        }
    }
}

/// available_filter_functions: one `name` or `name [module]` a line.
public enum FilterFunctionList {
    /// Which of `names` the list holds.
    public static func present(_ names: [String], in list: [UInt8]) -> Set<String> {
        let wanted = Set(names.map { Array($0.utf8) })
        let lengths = Set(wanted.map(\.count))  // most lines are skipped on length alone
        var found: Set<String> = []
        var lineStart = 0
        while lineStart < list.count, found.count < wanted.count {
            var lineEnd = lineStart
            while lineEnd < list.count, list[lineEnd] != 0x0A { lineEnd += 1 }
            var nameEnd = lineStart
            while nameEnd < lineEnd, list[nameEnd] != 0x20, list[nameEnd] != 0x09 { nameEnd += 1 }
            if lengths.contains(nameEnd - lineStart) {
                let name = Array(list[lineStart..<nameEnd])
                if wanted.contains(name) { found.insert(String(decoding: name, as: UTF8.self)) }
            }
            lineStart = lineEnd + 1
        }
        return found
    }
}

/// saved_tgids ("TID TGID" a line) and saved_cmdlines ("TID COMM" a line):
/// the kernel's own record of the threads that produced trace events, kept
/// after they exit. Bounded by the files (saved_cmdlines_size entries).
public enum SavedTaskList {
    /// `TID -> second column` of either file; malformed lines are skipped.
    public static func parse(_ text: [UInt8]) -> [Int32: ArraySlice<UInt8>] {
        var entries: [Int32: ArraySlice<UInt8>] = [:]
        for line in text.split(separator: 0x0A) {
            guard let space = line.firstIndex(of: 0x20),
                  let tid = Int32(String(decoding: line[line.startIndex..<space], as: UTF8.self)), tid > 0
            else { continue }
            entries[tid] = line[(space + 1)...]
        }
        return entries
    }

    /// The thread's process and name, when both files hold it. "<...>" is
    /// the kernel's placeholder for a comm it did not save.
    public static func identity(of tid: Int32, tgids: [Int32: ArraySlice<UInt8>],
                                cmdlines: [Int32: ArraySlice<UInt8>]) -> TaskIdentity? {
        guard let tgidText = tgids[tid], let tgid = Int32(String(decoding: tgidText, as: UTF8.self)), tgid > 0,
              let comm = cmdlines[tid], !comm.isEmpty, comm.elementsEqual("<...>".utf8) == false
        else { return nil }
        return TaskIdentity(tgid: tgid, comm: Array(comm.prefix(15)))
    }
}
