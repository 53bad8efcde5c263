import StoretraceBytes

// Metadata records (reserved type ids 0xFF00...0xFFFF): layouts and codecs.

/// One field of a record type's textual field description.
///
/// Text form, one field per line: `name offset size type`, e.g. `pid 8 4 u32`.
/// `size` may be `*` meaning "from offset to the end of the payload".
public struct CaptureField: Sendable, Equatable {
    public var name: String
    public var offset: Int
    /// nil for a variable-size field ("*") that extends to the end of the payload.
    public var size: Int?
    /// Type token, e.g. u32, i64, u16be, bytes, str, char[16]. Unknown tokens mean "bytes".
    public var type: String

    public init(name: String, offset: Int, size: Int?, type: String) {
        self.name = name
        self.offset = offset
        self.size = size
        self.type = type
    }

    /// Renders fields as schema text (one `name offset size type` line per field).
    public static func render(_ fields: [CaptureField]) -> String {
        fields.map { "\($0.name) \($0.offset) \($0.size.map(String.init) ?? "*") \($0.type)" }
            .joined(separator: "\n")
    }

    /// Parses schema text. Empty lines and lines starting with `#` are ignored.
    public static func parseList(_ text: String) throws(CaptureError) -> [CaptureField] {
        var out: [CaptureField] = []
        var lineNo = 0
        // "\r\n" is one Character (a grapheme cluster), unequal to "\n": split on both.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNo += 1
            let tokens = rawLine.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if tokens.isEmpty || tokens[0].hasPrefix("#") { continue }
            guard tokens.count == 4 else {
                throw .badSchemaText(line: lineNo, reason: "expected 4 fields 'name offset size type', found \(tokens.count)")
            }
            let name = String(tokens[0])
            guard isValidFieldName(name) else {
                throw .badSchemaText(line: lineNo, reason: "invalid field name '\(name)'")
            }
            guard let offset = Int(tokens[1]), offset >= 0, offset <= CaptureFormat.maxRecordPayload else {
                throw .badSchemaText(line: lineNo, reason: "invalid offset '\(tokens[1])'")
            }
            var size: Int? = nil
            if tokens[2] != "*" {
                guard let s = Int(tokens[2]), s >= 0, s <= CaptureFormat.maxRecordPayload else {
                    throw .badSchemaText(line: lineNo, reason: "invalid size '\(tokens[2])'")
                }
                size = s
            }
            out.append(CaptureField(name: name, offset: offset, size: size, type: String(tokens[3])))
        }
        return out
    }

    static func isValidFieldName(_ s: String) -> Bool {
        guard let first = s.utf8.first else { return false }
        func alpha(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 }
        guard alpha(first) else { return false }
        return s.utf8.allSatisfy { alpha($0) || ($0 >= 48 && $0 <= 57) || $0 == 46 }
    }
}

/// Schema of one record type, stored in the file (record type 0xFF00).
/// Record types are identified across storetrace versions by `name` and `version`;
/// the numeric `typeId` is only meaningful within one file.
public struct CaptureSchema: Sendable, Equatable {
    public var typeId: UInt16
    public var name: String
    public var version: UInt16
    /// Textual field description (see `CaptureField`).
    public var fieldText: String

    public init(typeId: UInt16, name: String, version: UInt16, fieldText: String) {
        self.typeId = typeId
        self.name = name
        self.version = version
        self.fieldText = fieldText
    }

    public func fields() throws(CaptureError) -> [CaptureField] {
        try CaptureField.parseList(fieldText)
    }

    // 0 u16 typeId | 2 u16 version | 4 u16 nameLength | 6 u16 0 | 8 u32 textLength | 12 u32 0 | 16 name | text
    func encoded() -> [UInt8] {
        let name = Array(self.name.utf8), text = Array(fieldText.utf8)
        var out = [UInt8](repeating: 0, count: 16)
        out.withUnsafeMutableBytes { b in
            let p = b.baseAddress!
            st16(p, 0, typeId)
            st16(p, 2, version)
            st16(p, 4, UInt16(name.count))
            st32(p, 8, UInt32(text.count))
        }
        out += name
        out += text
        return out
    }

    static func decode(_ b: UnsafeRawBufferPointer) -> CaptureSchema? {
        guard b.count >= 16, let p = b.baseAddress else { return nil }
        let le = ByteReader(b, order: .little)
        let nameLen = Int(le.field(UInt16.self, at: 4)), textLen = Int(le.field(UInt32.self, at: 8))
        guard nameLen > 0, nameLen <= b.count - 16, textLen <= b.count - 16 - nameLen else { return nil }
        let name = String(decoding: UnsafeRawBufferPointer(start: p + 16, count: nameLen), as: UTF8.self)
        let text = String(decoding: UnsafeRawBufferPointer(start: p + 16 + nameLen, count: textLen), as: UTF8.self)
        return CaptureSchema(typeId: le.field(UInt16.self, at: 0), name: name, version: le.field(UInt16.self, at: 2),
                             fieldText: text)
    }
}

/// Simultaneous clock readings (record type 0xFF01), written when the capture
/// starts and whenever the writer is asked to re-measure.
public struct CaptureClockSample: Sendable, Equatable {
    public var monotonicNs: UInt64
    public var realtimeNs: UInt64
    public var boottimeNs: UInt64
    /// Width of the CLOCK_MONOTONIC bracket around the other readings.
    public var uncertaintyNs: UInt64

    public init(monotonicNs: UInt64, realtimeNs: UInt64, boottimeNs: UInt64, uncertaintyNs: UInt64) {
        self.monotonicNs = monotonicNs
        self.realtimeNs = realtimeNs
        self.boottimeNs = boottimeNs
        self.uncertaintyNs = uncertaintyNs
    }

    /// realtime - monotonic: add to a monotonic timestamp to get wall time (ns since epoch).
    public var realtimeOffsetNs: Int64 { Int64(bitPattern: realtimeNs &- monotonicNs) }
    /// boottime - monotonic (time spent suspended).
    public var boottimeOffsetNs: Int64 { Int64(bitPattern: boottimeNs &- monotonicNs) }

    /// The clocks now.
    public static func measure() -> CaptureClockSample { Clock.sample() }

    static let encodedSize = 32

    func encoded() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.encodedSize)
        out.withUnsafeMutableBytes { b in
            let p = b.baseAddress!
            st64(p, 0, monotonicNs)
            st64(p, 8, realtimeNs)
            st64(p, 16, boottimeNs)
            st64(p, 24, uncertaintyNs)
        }
        return out
    }

    static func decode(_ b: UnsafeRawBufferPointer) -> CaptureClockSample? {
        guard b.count >= encodedSize else { return nil }
        let le = ByteReader(b, order: .little)
        return CaptureClockSample(monotonicNs: le.field(UInt64.self, at: 0), realtimeNs: le.field(UInt64.self, at: 8),
                                  boottimeNs: le.field(UInt64.self, at: 16), uncertaintyNs: le.field(UInt64.self, at: 24))
    }
}

/// A drop counter supplied by the caller at close (e.g. "ringbuf": lost samples).
public struct CaptureDropCounter: Sendable, Equatable {
    public var source: String
    public var count: UInt64
    public init(source: String, count: UInt64) {
        self.source = source
        self.count = count
    }
}

/// What the caller supplies to `CaptureWriter.close(trailer:)`.
public struct CaptureTrailerInfo: Sendable, Equatable {
    public var drops: [CaptureDropCounter]
    /// Free text, e.g. why the capture stopped ("SIGINT", "max-size reached").
    public var note: String
    public init(drops: [CaptureDropCounter] = [], note: String = "") {
        self.drops = drops
        self.note = note
    }
}

/// The end-of-capture trailer (record type 0xFF03), present only if the writer
/// was closed cleanly.
public struct CaptureTrailer: Sendable, Equatable {
    /// Data (non-metadata) records written.
    public var totalRecords: UInt64
    /// Chunks in the file, including the one holding the trailer.
    public var totalChunks: UInt64
    public var endMonotonicNs: UInt64
    public var endRealtimeNs: UInt64
    /// Data records written per type id, for every registered type.
    public var recordsByType: [UInt16: UInt64]
    public var drops: [CaptureDropCounter]
    public var note: String

    public init(totalRecords: UInt64, totalChunks: UInt64, endMonotonicNs: UInt64, endRealtimeNs: UInt64,
                recordsByType: [UInt16: UInt64], drops: [CaptureDropCounter], note: String) {
        self.totalRecords = totalRecords
        self.totalChunks = totalChunks
        self.endMonotonicNs = endMonotonicNs
        self.endRealtimeNs = endRealtimeNs
        self.recordsByType = recordsByType
        self.drops = drops
        self.note = note
    }

    // 0 u64 totalRecords | 8 u64 totalChunks | 16 u64 endMonotonicNs | 24 u64 endRealtimeNs
    // 32 u32 T | 36 u32 D | 40 u32 noteLength | 44 u32 0
    // 48: T x { u16 typeId, u16 0, u32 0, u64 count }
    // then D x { u64 count, u32 nameLength, u32 0, name, zero pad to 8 }
    // then note bytes
    func encoded() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 48)
        let types = recordsByType.sorted { $0.key < $1.key }
        let note = Array(self.note.utf8)
        out.withUnsafeMutableBytes { b in
            let p = b.baseAddress!
            st64(p, 0, totalRecords)
            st64(p, 8, totalChunks)
            st64(p, 16, endMonotonicNs)
            st64(p, 24, endRealtimeNs)
            st32(p, 32, UInt32(types.count))
            st32(p, 36, UInt32(drops.count))
            st32(p, 40, UInt32(note.count))
        }
        for (t, c) in types {
            var e = [UInt8](repeating: 0, count: 16)
            e.withUnsafeMutableBytes { st16($0.baseAddress!, 0, t); st64($0.baseAddress!, 8, c) }
            out += e
        }
        for d in drops {
            let name = Array(d.source.utf8)
            var e = [UInt8](repeating: 0, count: 16)
            e.withUnsafeMutableBytes { st64($0.baseAddress!, 0, d.count); st32($0.baseAddress!, 8, UInt32(name.count)) }
            out += e
            out += name
            out += [UInt8](repeating: 0, count: (8 - name.count % 8) % 8)
        }
        out += note
        return out
    }

    static func decode(_ b: UnsafeRawBufferPointer) -> CaptureTrailer? {
        guard b.count >= 48, let p = b.baseAddress else { return nil }
        let le = ByteReader(b, order: .little)
        let n = b.count
        let t = Int(le.field(UInt32.self, at: 32)), d = Int(le.field(UInt32.self, at: 36)), noteLen = Int(le.field(UInt32.self, at: 40))
        // Validate counts against the payload size before allocating anything.
        guard t <= (n - 48) / 16, d <= (n - 48) / 16 else { return nil }
        var off = 48
        var byType: [UInt16: UInt64] = [:]
        byType.reserveCapacity(t)
        for _ in 0..<t {
            byType[le.field(UInt16.self, at: off)] = le.field(UInt64.self, at: off + 8)
            off += 16
        }
        var drops: [CaptureDropCounter] = []
        drops.reserveCapacity(d)
        for _ in 0..<d {
            guard n - off >= 16 else { return nil }
            let count = le.field(UInt64.self, at: off), nameLen = Int(le.field(UInt32.self, at: off + 8))
            off += 16
            guard nameLen <= n - off else { return nil }
            let name = String(decoding: UnsafeRawBufferPointer(start: p + off, count: nameLen), as: UTF8.self)
            off += nameLen
            let pad = (8 - nameLen % 8) % 8
            guard pad <= n - off else { return nil }
            off += pad
            drops.append(CaptureDropCounter(source: name, count: count))
        }
        guard noteLen <= n - off else { return nil }
        let note = String(decoding: UnsafeRawBufferPointer(start: p + off, count: noteLen), as: UTF8.self)
        return CaptureTrailer(totalRecords: le.field(UInt64.self, at: 0), totalChunks: le.field(UInt64.self, at: 8), endMonotonicNs: le.field(UInt64.self, at: 16),
                              endRealtimeNs: le.field(UInt64.self, at: 24), recordsByType: byType, drops: drops, note: note)
    }
}
