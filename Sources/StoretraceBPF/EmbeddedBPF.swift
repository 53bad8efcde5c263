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
/// would cost start-up time (and 30 MB) for one call. The object is decoded
/// before every load, on the way to the first event: four characters into
/// three bytes per step, straight into uninitialized storage, one test of
/// the alphabet per step (a byte outside it has the table's high bit). A
/// character at a time through a bit accumulator was 6 M instructions for
/// the 236 KB of text, 9 % of a whole `live` start-up (BENCHMARKS.md,
/// "Start-up (issue 15 item 3)").
enum Base64 {
    /// Each ASCII byte's 6-bit value, 0xFF for a byte outside the alphabet.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, char) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(char)] = UInt8(index)
        }
        return table
    }()

    /// The bytes `text` encodes, or nil if it holds a character outside the
    /// alphabet before its padding. Padding ends the data; a last group of
    /// two or three characters gives one or two bytes (a lone one, none).
    static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { input -> [UInt8]? in
            let end = input.firstIndex(of: UInt8(ascii: "=")) ?? input.count
            let groups = end / 4
            let tail = end % 4
            var valid = true
            let decoded = values.withUnsafeBufferPointer { table in
                [UInt8](unsafeUninitializedCapacity: groups * 3 + 2) { output, count in
                    guard let source = input.baseAddress, let target = output.baseAddress, let table = table.baseAddress else {
                        count = 0
                        return
                    }
                    for group in 0..<groups {
                        let at = source + group * 4
                        let a = table[Int(at[0])], b = table[Int(at[1])], c = table[Int(at[2])], d = table[Int(at[3])]
                        if (a | b | c | d) & 0x80 != 0 { valid = false; break }
                        let bits = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                        let out = target + group * 3
                        out[0] = UInt8(truncatingIfNeeded: bits >> 16)
                        out[1] = UInt8(truncatingIfNeeded: bits >> 8)
                        out[2] = UInt8(truncatingIfNeeded: bits)
                    }
                    var written = groups * 3
                    if valid && tail > 0 {
                        var bits: UInt32 = 0
                        for index in groups * 4..<end {
                            let value = table[Int(source[index])]
                            if value & 0x80 != 0 { valid = false; break }
                            bits = bits << 6 | UInt32(value)
                        }
                        // Two characters hold one byte (12 bits, 4 spare), three hold two (18, 2 spare).
                        if tail == 2 {
                            target[written] = UInt8(truncatingIfNeeded: bits >> 4)
                            written += 1
                        } else if tail == 3 {
                            target[written] = UInt8(truncatingIfNeeded: bits >> 10)
                            target[written + 1] = UInt8(truncatingIfNeeded: bits >> 2)
                            written += 2
                        }
                    }
                    count = valid ? written : 0
                }
            }
            return valid ? decoded : nil
        }
    }
}
