/// Parses /proc/PID/mountinfo lines from bytes (see `SnapshotText.mount`),
/// keeping one copy of each line and string that repeats.
///
/// A node with hundreds of pods has hundreds of mount namespaces that are
/// near-copies of each other: the same mount points, options, sources and
/// propagation tags, under other mount ids. One parser is used for a whole
/// scan, so 2,000 copies of a table share one `Mount.Line` per line, and
/// lines that differ share their strings (BENCHMARKS.md, "Snapshot scale");
/// the pools grow only with what is distinct in the bounded scan.
public struct MountinfoParser {
    private var lines: Set<NodeSnapshot.Mount.Line> = []
    private var strings: Set<String> = []
    private var tagLists: [String: [String]] = [:]

    public init() {}

    /// Every line of `text` that parses, in order, up to `limit` mounts;
    /// `malformed` counts lines that do not parse and `overLimit` the lines
    /// past the limit (empty lines count as neither).
    public mutating func mounts(_ text: String, limit: Int = .max, malformed: inout Int,
                                overLimit: inout Int) -> [NodeSnapshot.Mount] {
        var text = text
        return text.withUTF8 { mounts(UnsafeRawBufferPointer($0), limit: limit, malformed: &malformed, overLimit: &overLimit) }
    }

    /// The same, on the bytes of the file.
    public mutating func mounts(_ bytes: UnsafeRawBufferPointer, limit: Int = .max, malformed: inout Int,
                                overLimit: inout Int) -> [NodeSnapshot.Mount] {
        var mounts: [NodeSnapshot.Mount] = []
        bytes.forEachLine { range in
            guard !range.isEmpty else { return }
            guard mounts.count < limit else { overLimit += 1; return }
            if let mount = self.mount(bytes.view(range)) { mounts.append(mount) } else { malformed += 1 }
        }
        return mounts
    }

    /// One line (without its newline); nil when it lacks the fixed fields.
    public mutating func mount(_ line: UnsafeRawBufferPointer) -> NodeSnapshot.Mount? {
        // Fields are separated by single spaces and may be empty: an empty
        // source ("mount -t tmpfs '' /x") shows up as two spaces in a row.
        var fieldStart = 0
        func nextField() -> Range<Int>? {
            guard fieldStart <= line.count else { return nil }
            let end = line.firstIndex(of: ASCII.space, in: fieldStart..<line.count) ?? line.count
            defer { fieldStart = end + 1 }
            return fieldStart..<end
        }
        guard let mountIDField = nextField(), let parentIDField = nextField(), let deviceField = nextField(),
              let rootField = nextField(), let mountPointField = nextField(), let optionsField = nextField(),
              let mountID = line.decimal(mountIDField).flatMap({ Int(exactly: $0) }),
              let parentID = line.decimal(parentIDField).flatMap({ Int(exactly: $0) }),
              let device = SnapshotText.deviceNumber(line.view(deviceField))
        else { return nil }
        // Optional fields (propagation tags) run up to a lone "-".
        let tagsStart = fieldStart
        var tagsEnd = tagsStart
        while true {
            guard let field = nextField() else { return nil }
            if field.count == 1, line[field.lowerBound] == UInt8(ascii: "-") { break }
            tagsEnd = field.upperBound
        }
        guard let fstypeField = nextField(), let sourceField = nextField() else { return nil }
        // Super options are the rest, as written, in case a filesystem
        // printed an unescaped space in one (empty when the line ends here).
        let superOptionsField = min(fieldStart, line.count)..<line.count
        let fields = NodeSnapshot.Mount.Fields(
            major: device.major,
            minor: device.minor,
            root: pooled(SnapshotText.unescapeOctal(line.view(rootField))),
            mountPoint: pooled(SnapshotText.unescapeOctal(line.view(mountPointField))),
            options: pooled(line.string(optionsField)),
            optionalFields: tags(line, tagsStart..<max(tagsStart, tagsEnd)),
            fstype: pooled(SnapshotText.unescapeOctal(line.view(fstypeField))),
            source: pooled(SnapshotText.unescapeOctal(line.view(sourceField))),
            superOptions: pooled(line.string(superOptionsField)))
        return NodeSnapshot.Mount(mountID: mountID, parentID: parentID,
                                  line: lines.insert(NodeSnapshot.Mount.Line(fields)).memberAfterInsert)
    }

    private mutating func pooled(_ string: String) -> String {
        // Strings of up to 15 UTF-8 bytes are stored inline: nothing to share.
        guard string.utf8.count > 15 else { return string }
        return strings.insert(string).memberAfterInsert
    }

    /// The non-empty space-separated tags in `range`, one shared array per
    /// distinct text ("shared:1 master:2").
    private mutating func tags(_ line: UnsafeRawBufferPointer, _ range: Range<Int>) -> [String] {
        guard !range.isEmpty else { return [] }
        let text = line.string(range)
        if let known = tagLists[text] { return known }
        var list: [String] = []
        var start = range.lowerBound
        while start <= range.upperBound {
            let end = line.firstIndex(of: ASCII.space, in: start..<range.upperBound) ?? range.upperBound
            if end > start { list.append(line.string(start..<end)) }
            start = end + 1
        }
        tagLists[text] = list
        return list
    }
}
