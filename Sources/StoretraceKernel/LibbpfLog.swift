import CLibbpf
import Glibc

/// Collects libbpf's messages instead of letting them reach stderr, so a
/// load failure can be reported as one line with the verifier's last words.
/// Set STORETRACE_LIBBPF_DEBUG=1 to see everything libbpf says.
enum LibbpfLog {
    nonisolated(unsafe) private static var buffer: [String] = []
    nonisolated(unsafe) static var echo = getenv("STORETRACE_LIBBPF_DEBUG") != nil
    private static let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private static let installed: Void = {
        pthread_mutex_init(lock, nil)
        libbpf_set_print(libbpfPrint)
    }()

    static func install() { _ = installed }

    static func append(_ line: String) {
        pthread_mutex_lock(lock)
        buffer.append(line)
        if buffer.count > 400 { buffer.removeFirst(buffer.count - 400) }
        pthread_mutex_unlock(lock)
    }

    static func drain() -> [String] {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        let lines = buffer
        buffer.removeAll()
        return lines
    }

    /// The verifier log of the program that failed to load: libbpf prints it
    /// between "-- BEGIN PROG LOAD LOG --" and "-- END PROG LOAD LOG --" after
    /// "prog 'NAME': BPF program load failed". Returns the name and the last lines.
    static func verifierFailure(in lines: [String], keep: Int = 6) -> (program: String?, log: [String]) {
        var program: String?
        for line in lines {
            if let range = line.firstRange(of: "prog '"), line.contains("failed") {
                let rest = line[range.upperBound...]
                if let end = rest.firstIndex(of: "'") { program = String(rest[..<end]) }
            }
        }
        var log: [String] = []
        if let begin = lines.lastIndex(where: { $0.contains("BEGIN PROG LOAD LOG") }) {
            let end = lines[begin...].firstIndex(where: { $0.contains("END PROG LOAD LOG") }) ?? lines.endIndex
            log = lines[(begin + 1)..<end].flatMap { $0.split(separator: "\n").map(String.init) }
                .filter { !$0.trimming(" \t").isEmpty }
        }
        if log.isEmpty { log = lines.filter { $0.contains("libbpf:") } }
        return (program, Array(log.suffix(keep)))
    }
}

private func libbpfPrint(_ level: libbpf_print_level, _ format: UnsafePointer<CChar>?,
                         _ arguments: CVaListPointer?) -> Int32 {
    guard let format, let arguments else { return 0 }
    // libbpf's debug messages (a line per ELF section, map, relocation)
    // are most of what it says, and formatting them was 10 % of the
    // instructions before the programs were attached; no failure report
    // uses them (the verifier log and the failures are warnings).
    if level == LIBBPF_DEBUG && !LibbpfLog.echo { return 0 }
    return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 8192) { text in
        let written = vsnprintf(text.baseAddress!, text.count, format, arguments)
        let line = String(cString: text.baseAddress!).trimming("\n")
        if LibbpfLog.echo { fputs(line + "\n", stderr) }
        LibbpfLog.append(line)
        return written
    }
}

extension StringProtocol {
    /// Without the leading and trailing characters found in `set`.
    func trimming(_ set: String) -> String {
        var scalars = Substring(self)
        while let first = scalars.first, set.contains(first) { scalars.removeFirst() }
        while let last = scalars.last, set.contains(last) { scalars.removeLast() }
        return String(scalars)
    }
}
