import Glibc
import StoretraceDecode
import SystemPackage

/// Small-file I/O for tracefs control files, keeping the errno: tracefs
/// answers "no" through errno (EPERM for a refused tracer, EINVAL for a name
/// it does not know, EBUSY for an instance still in use), and those reasons
/// are what storetrace reports.
enum TracefsFiles {
    /// The whole file. Control files are small; the largest read here,
    /// available_filter_functions, is a few MiB at most.
    static func read(_ path: String) -> Result<[UInt8], Errno> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .failure(Errno(rawValue: errno)) }
        defer { Glibc.close(fd) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = Glibc.read(fd, &chunk, chunk.count)
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(Errno(rawValue: errno))
            }
            if count == 0 { return .success(data) }
            data.append(contentsOf: chunk[0..<count])
        }
    }

    static func readText(_ path: String) -> Result<String, Errno> {
        read(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Writes `text` in one write(2), truncating first: tracefs parses each
    /// write as a whole, and O_TRUNC is how set_ftrace_filter is cleared.
    /// Returns nil on success, else the errno of open or write.
    @discardableResult
    static func write(_ path: String, _ text: String) -> Errno? {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        if fd < 0 { return Errno(rawValue: errno) }
        defer { Glibc.close(fd) }
        var bytes = Array(text.utf8)
        if bytes.isEmpty { return nil }  // opening with O_TRUNC was the whole job
        let written = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if written < 0 { return Errno(rawValue: errno) }
        return written == bytes.count ? nil : .ioError
    }

    /// Entry names of a directory, without "." and "..". Empty if it cannot be read.
    static func list(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

}

extension Errno {
    /// "EPERM (Operation not permitted)": the symbolic name users search for, and the text.
    var symbolicDescription: String {
        let name = ErrnoNames.name(rawValue).map { "\($0)" } ?? "errno \(rawValue)"
        return "\(name) (\(String(cString: strerror(rawValue))))"
    }
}
