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
/// would cost start-up time (and 30 MB) for one call. A loop over raw bytes
/// into uninitialized storage: the object is decoded before every load, on
/// the way to the first event.
enum Base64 {
    /// Each ASCII byte's 6-bit value, 0xFF for a byte outside the alphabet.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, char) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(char)] = UInt8(index)
        }
        return table
    }()

    static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { input -> [UInt8]? in
            // Padding ends the data.
            let end = input.firstIndex(of: UInt8(ascii: "=")) ?? input.count
            var valid = true
            let decoded = values.withUnsafeBufferPointer { table in
                [UInt8](unsafeUninitializedCapacity: end / 4 * 3 + 2) { output, count in
                    var accumulator: UInt32 = 0
                    var bits: UInt32 = 0
                    var written = 0
                    for index in 0..<end {
                        let value = table[Int(input[index])]
                        if value == 0xFF { valid = false; break }
                        accumulator = (accumulator << 6) | UInt32(value)
                        bits += 6
                        if bits >= 8 {
                            bits -= 8
                            output[written] = UInt8(truncatingIfNeeded: accumulator >> bits)
                            written += 1
                        }
                    }
                    count = written
                }
            }
            return valid ? decoded : nil
        }
    }
}
