/// A terminal's character grid: what `storetrace top` draws, what its tests
/// compare, and what the terminal is brought to by the fewest escape
/// sequences (`ansiUpdate`). A value: a frame is drawn into a fresh grid and
/// compared with the last one sent.
///
/// One cell per column. A wide character (CJK, most emoji) takes two: the
/// second is a continuation cell, never written. What a terminal would not
/// show in exactly one or two columns never reaches a cell as itself: C0 and
/// C1 controls and DEL, zero-width and format characters (combining marks,
/// zero-width spaces and joiners, bidirectional overrides that would reorder
/// what follows them) are spelled `\xNN`, byte by byte of their UTF-8, as the
/// terminal escaper spells bytes (`OutputBuffer.appendPrintable`), so every
/// row stays exactly `width` columns wide and nothing a name holds can move
/// the cursor or reorder the screen. Text from the node goes through that
/// escaper first (bytes that are not UTF-8, the backslash); this is the net
/// under it.
public struct Screen: Equatable, Sendable {
    public enum Color: UInt8, Equatable, Hashable, Sendable {
        case red = 1, green = 2, yellow = 3, blue = 4, magenta = 5, cyan = 6

        /// Its letter in `styleText()`.
        var letter: Character {
            switch self {
            case .red: "r"
            case .green: "g"
            case .yellow: "y"
            case .blue: "b"
            case .magenta: "m"
            case .cyan: "c"
            }
        }
    }

    public struct Style: Equatable, Hashable, Sendable {
        public var bold = false
        public var dim = false
        public var reverse = false
        public var color: Color?

        public init(bold: Bool = false, dim: Bool = false, reverse: Bool = false, color: Color? = nil) {
            self.bold = bold
            self.dim = dim
            self.reverse = reverse
            self.color = color
        }

        public static let plain = Style()
        public static let bold = Style(bold: true)
        public static let dim = Style(dim: true)
        public static let reverse = Style(reverse: true)
        public static func color(_ color: Color, bold: Bool = false) -> Style { Style(bold: bold, color: color) }
    }

    public struct Cell: Equatable, Sendable {
        public var scalar: Unicode.Scalar
        public var style: Style
        /// The right half of a wide character: the terminal fills it.
        public var isContinuation: Bool { scalar == Screen.continuation }
    }

    static let continuation: Unicode.Scalar = "\u{0}"
    static let blank = Cell(scalar: " ", style: .plain)

    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]

    public init(width: Int, height: Int) {
        self.width = max(width, 0)
        self.height = max(height, 0)
        cells = Array(repeating: Self.blank, count: self.width * self.height)
    }

    public subscript(row: Int, column: Int) -> Cell { cells[row * width + column] }

    // MARK: Writing

    /// Writes `text` from `column` of `row`, in at most `limit` columns (to
    /// the end of the row without one); text that does not fit ends with
    /// "…". Returns the columns written. `text` is the program's own or has
    /// been through the terminal escaper; controls and zero-width characters
    /// are spelled out here in any case.
    @discardableResult
    public mutating func put(_ text: String, row: Int, column: Int, limit: Int? = nil, style: Style = .plain) -> Int {
        guard row >= 0, row < height, column >= 0, column < width else { return 0 }
        let room = min(limit ?? (width - column), width - column)
        guard room > 0 else { return 0 }
        let glyphs = Self.glyphs(of: text)
        let total = glyphs.reduce(0) { $0 + $1.columns }
        var budget = total > room ? room - 1 : room // room for "…"
        var at = column
        for glyph in glyphs {
            guard glyph.columns <= budget else { break }
            cells[row * width + at] = Cell(scalar: glyph.scalar, style: style)
            if glyph.columns == 2 { cells[row * width + at + 1] = Cell(scalar: Self.continuation, style: style) }
            at += glyph.columns
            budget -= glyph.columns
        }
        if total > room {
            cells[row * width + at] = Cell(scalar: "…", style: style)
            at += 1
        }
        return at - column
    }

    /// Changes the style of the cells of `row` in `columns`.
    public mutating func restyle(row: Int, columns: Range<Int>, _ change: (inout Style) -> Void) {
        guard row >= 0, row < height else { return }
        for column in columns.clamped(to: 0..<width) { change(&cells[row * width + column].style) }
    }

    /// How many columns `text` takes once written.
    public static func columns(of text: String) -> Int {
        glyphs(of: text).reduce(0) { $0 + $1.columns }
    }

    struct Glyph {
        var scalar: Unicode.Scalar
        var columns: Int
    }

    /// The cells `text` becomes: controls and zero-width characters spelled
    /// `\xNN` per UTF-8 byte, wide characters two columns.
    static func glyphs(of text: String) -> [Glyph] {
        var glyphs: [Glyph] = []
        glyphs.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            let columns = displayColumns(scalar)
            if columns > 0 {
                glyphs.append(Glyph(scalar: scalar, columns: columns))
                continue
            }
            for byte in String(scalar).utf8 {
                for character in "\\x" + hexByte(byte) { glyphs.append(Glyph(scalar: character.unicodeScalars.first!, columns: 1)) }
            }
        }
        return glyphs
    }

    static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xf)]])
    }

    /// Columns a terminal gives the scalar: 0 for what must not reach a
    /// cell as itself (controls, zero-width and format characters), 2 for
    /// East Asian wide and emoji presentation characters, else 1.
    static func displayColumns(_ scalar: Unicode.Scalar) -> Int {
        let value = scalar.value
        if value < 0x20 || (0x7F...0x9F).contains(value) { return 0 }
        if value < 0x300 { return value == 0xAD ? 0 : 1 } // soft hyphen: shown by some terminals, not others
        for range in zeroWidth where range.contains(value) { return 0 }
        for range in wide where range.contains(value) { return 2 }
        return 1
    }

    static let zeroWidth: [ClosedRange<UInt32>] = [
        0x0300...0x036F, 0x0483...0x0489, 0x0591...0x05BD, 0x0610...0x061A, 0x061C...0x061C, 0x064B...0x065F,
        0x0E31...0x0E31, 0x0E34...0x0E3A, 0x0E47...0x0E4E, 0x1160...0x11FF, 0x180B...0x180F,
        0x1AB0...0x1AFF, 0x1DC0...0x1DFF, 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x206F, 0x20D0...0x20FF,
        0xFE00...0xFE0F, 0xFE20...0xFE2F, 0xFEFF...0xFEFF, 0xFFF9...0xFFFB, 0xE0000...0xE0FFF,
    ]

    static let wide: [ClosedRange<UInt32>] = [
        0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0...0x23F0, 0x23F3...0x23F3,
        0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F...0x267F, 0x2693...0x2693, 0x26A1...0x26A1,
        0x26AA...0x26AB, 0x26BD...0x26BE, 0x26C4...0x26C5, 0x26CE...0x26CE, 0x26D4...0x26D4, 0x26EA...0x26EA,
        0x26F2...0x26F3, 0x26F5...0x26F5, 0x26FA...0x26FA, 0x26FD...0x26FD, 0x2705...0x2705, 0x270A...0x270B,
        0x2728...0x2728, 0x274C...0x274C, 0x274E...0x274E, 0x2753...0x2755, 0x2757...0x2757, 0x2795...0x2797,
        0x27B0...0x27B0, 0x27BF...0x27BF, 0x2B1B...0x2B1C, 0x2B50...0x2B50, 0x2B55...0x2B55,
        0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF, 0xA960...0xA97F,
        0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F, 0xFF00...0xFF60, 0xFFE0...0xFFE6,
        0x16FE0...0x16FE4, 0x17000...0x18AFF, 0x1B000...0x1B2FF, 0x1F004...0x1F004, 0x1F0CF...0x1F0CF,
        0x1F18E...0x1F18E, 0x1F191...0x1F19A, 0x1F200...0x1F251, 0x1F300...0x1F64F, 0x1F680...0x1F6FF,
        0x1F7E0...0x1F7EB, 0x1F90C...0x1F9FF, 0x1FA70...0x1FAFF, 0x20000...0x2FFFD, 0x30000...0x3FFFD,
    ]

    // MARK: Reading

    /// The characters, one line per row, trailing spaces left out: what
    /// tests compare and what a non-terminal output gets.
    public func text() -> String {
        rows { cell in String(cell.scalar) }
    }

    /// One letter per cell for its style, for tests: the color's letter
    /// (`r`ed, `g`reen, `y`ellow, `b`lue, `m`agenta, `c`yan), else `w` for
    /// bold, `d` for dim; upper case when reversed (`W` without a color);
    /// a space for plain.
    public func styleText() -> String {
        rows { cell in
            let style = cell.style
            let letter: Character = style.color?.letter ?? (style.bold ? "w" : style.dim ? "d" : style.reverse ? "w" : " ")
            return String(style.reverse ? Character(letter.uppercased()) : letter)
        }
    }

    private func rows(_ describe: (Cell) -> String) -> String {
        var out = ""
        for row in 0..<height {
            var line = ""
            for column in 0..<width where !self[row, column].isContinuation { line += describe(self[row, column]) }
            while line.last == " " { line.removeLast() }
            out += line + "\n"
        }
        return out
    }

    // MARK: To the terminal

    /// The bytes that bring a terminal showing `previous` to this grid:
    /// cursor moves and the changed cells only, styles as SGR sequences
    /// (without `color`, colors become bold). nil, or a grid of another
    /// size, clears and draws everything. Ends with the attributes reset.
    public func ansiUpdate(from previous: Screen?, color: Bool) -> [UInt8] {
        var out: [UInt8] = []
        let redraw = previous == nil || previous!.width != width || previous!.height != height
        if redraw { out += Array("\u{1B}[0m\u{1B}[H\u{1B}[2J".utf8) }
        var current: Style? = redraw ? .plain : nil
        func changed(_ index: Int) -> Bool { redraw ? cells[index] != Self.blank : cells[index] != previous!.cells[index] }
        for row in 0..<height {
            var column = 0
            while column < width {
                guard changed(row * width + column) else {
                    column += 1
                    continue
                }
                // A run of changes, bridging gaps of up to 4 unchanged cells
                // (cheaper to rewrite than to move the cursor over).
                var start = column
                if self[row, start].isContinuation && start > 0 { start -= 1 }
                var end = column + 1
                var probe = end
                while probe < width, probe - end <= 4 {
                    if changed(row * width + probe) { end = probe + 1 }
                    probe += 1
                }
                if end < width, self[row, end].isContinuation { end += 1 }
                out += Array("\u{1B}[\(row + 1);\(start + 1)H".utf8)
                for at in start..<end {
                    let cell = self[row, at]
                    if cell.isContinuation { continue }
                    if current != cell.style {
                        out += Self.sgr(cell.style, color: color)
                        current = cell.style
                    }
                    out += Array(String(cell.scalar).utf8)
                }
                column = end
            }
        }
        out += Array("\u{1B}[0m".utf8)
        return out
    }

    static func sgr(_ style: Style, color: Bool) -> [UInt8] {
        var text = "\u{1B}[0"
        if style.bold || (!color && style.color != nil) { text += ";1" }
        if style.dim { text += ";2" }
        if style.reverse { text += ";7" }
        if color, let value = style.color { text += ";3\(value.rawValue)" }
        return Array((text + "m").utf8)
    }
}
