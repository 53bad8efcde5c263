/// The BPF objects compiled from bpf/*.bpf.c at build time (by the
/// CompileBPF plugin) and carried inside the executable.
public enum EmbeddedBPF {
    /// The ELF bytes of `name` (e.g. "storetrace.bpf.o"), or nil if no such
    /// object was built.
    public static func object(named name: String) -> [UInt8]? {
        guard let text = base64Objects[name] else { return nil }
        return Base64.decode(text)
    }

    /// Names of the embedded objects.
    public static var names: [String] { base64Objects.keys.sorted() }
}

/// Minimal RFC 4648 decoder: keeps this module free of Foundation, which
/// would cost start-up time for one call.
enum Base64 {
    static func decode(_ text: String) -> [UInt8]? {
        var table = [UInt8](repeating: 0xff, count: 256)
        for (index, char) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(char)] = UInt8(index)
        }
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count / 4 * 3)
        var accumulator: UInt32 = 0
        var bits = 0
        for char in text.utf8 {
            if char == UInt8(ascii: "=") { break }
            let value = table[Int(char)]
            guard value != 0xff else { return nil }
            accumulator = (accumulator << 6) | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return output
    }
}
