/// A key of `storetrace top`, decoded from what the terminal sends in raw mode.
public enum DashboardKey: Equatable, Sendable {
    case character(Character)
    case enter, escape, backspace
    case up, down, pageUp, pageDown, home, end
    /// Ctrl-C: raw mode delivers it as a byte, not as SIGINT.
    case interrupt
    /// Anything else (function keys, other control bytes): ignored.
    case other

    /// The keys in `bytes` (one read from the terminal). An escape sequence
    /// is taken whole when the read holds it whole, as terminals send them;
    /// an ESC with nothing after it is the Escape key.
    public static func decode(_ bytes: [UInt8]) -> [DashboardKey] {
        var keys: [DashboardKey] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case 0x03: keys.append(.interrupt)
            case 0x0D, 0x0A: keys.append(.enter)
            case 0x7F, 0x08: keys.append(.backspace)
            case 0x1B:
                guard index < bytes.count, bytes[index] == UInt8(ascii: "[") || bytes[index] == UInt8(ascii: "O") else {
                    keys.append(.escape)
                    continue
                }
                // CSI or SS3: parameters, then one final byte (0x40-0x7E).
                var end = index + 1
                while end < bytes.count, !(0x40...0x7E).contains(bytes[end]) { end += 1 }
                guard end < bytes.count else {
                    keys.append(.other)
                    index = bytes.count
                    continue
                }
                let parameter = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
                switch (bytes[end], parameter) {
                case (UInt8(ascii: "A"), _): keys.append(.up)
                case (UInt8(ascii: "B"), _): keys.append(.down)
                case (UInt8(ascii: "H"), _), (UInt8(ascii: "~"), "1"), (UInt8(ascii: "~"), "7"): keys.append(.home)
                case (UInt8(ascii: "F"), _), (UInt8(ascii: "~"), "4"), (UInt8(ascii: "~"), "8"): keys.append(.end)
                case (UInt8(ascii: "~"), "5"): keys.append(.pageUp)
                case (UInt8(ascii: "~"), "6"): keys.append(.pageDown)
                default: keys.append(.other)
                }
                index = end + 1
            case 0x20...0x7E:
                keys.append(.character(Character(Unicode.Scalar(byte))))
            case 0xC2...0xF4:
                // A UTF-8 character typed into the filter.
                let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2
                let end = min(index - 1 + length, bytes.count)
                let text = String(decoding: bytes[(index - 1)..<end], as: UTF8.self)
                if let scalar = text.unicodeScalars.first, scalar != "\u{FFFD}", Screen.displayColumns(scalar) > 0 {
                    keys.append(.character(Character(scalar)))
                } else {
                    keys.append(.other)
                }
                index = end
            default:
                keys.append(.other)
            }
        }
        return keys
    }
}

/// What the session does after a key.
public enum DashboardAction: Equatable, Sendable {
    /// Nothing changed.
    case none
    /// The state changed: draw again now.
    case redraw
    /// `q`: stop, detach, restore the terminal.
    case quit
    /// Ctrl-C: stop as SIGINT does.
    case interrupt
}

/// What the viewer chose: the page, the sort, the filter, the selected
/// failure, whether the display is paused. Pure: `handle` takes a key and
/// the failures as listed on the screen, and says what the session does.
public struct DashboardViewState: Equatable, Sendable {
    public enum Page: Equatable, Sendable {
        case main
        case help
        /// The calls and holders of one failure (`DashboardModel.Failure.id`).
        case failure(id: Int)
    }

    public enum Sort: CaseIterable, Equatable, Sendable {
        /// Failures newest first; activity and copies busiest first (the last second's rates).
        case recent
        /// Failures most frequent first; activity and copies by their totals.
        case count
        /// By path or name.
        case name

        public var label: String {
            switch self {
            case .recent: "newest"
            case .count: "count"
            case .name: "name"
            }
        }
    }

    public var page = Page.main
    public var sort = Sort.recent
    /// The screen stops changing; the events are still counted.
    public var paused = false
    /// Rows whose text holds this (any case) are shown; empty shows all.
    public var filter = ""
    /// The filter being typed after `f`; nil when not typing.
    public var prompt: String?
    /// The selected failure (its id): `Enter` opens it.
    public var selected: Int?
    /// The first line shown of the help or a failure's page.
    public var scroll = 0

    public init() {}

    /// `failures`: the ids of the failures in the order the screen lists
    /// them; `maxScroll`: how far the page shown can scroll
    /// (`DashboardView.scrollLimit`).
    public mutating func handle(_ key: DashboardKey, failures: [Int], maxScroll: Int = 0) -> DashboardAction {
        if key == .interrupt { return .interrupt }
        if let typed = prompt {
            switch key {
            case .character(let character):
                guard typed.count < 64 else { return .none }
                prompt = typed + String(character)
            case .backspace:
                prompt = String(typed.dropLast())
            case .enter:
                filter = typed
                prompt = nil
                if let selected, !failures.contains(selected) { self.selected = nil }
            case .escape:
                prompt = nil
            default:
                return .none
            }
            return .redraw
        }
        if page != .main, let step = Self.scrollStep(key, maxScroll: maxScroll) {
            let target = max(0, min(maxScroll, scroll + step))
            guard target != scroll else { return .none }
            scroll = target
            return .redraw
        }
        switch key {
        case .character("q"):
            return .quit
        case .character("?"):
            page = page == .help ? .main : .help
            scroll = 0
        case .character("p"):
            paused.toggle()
        case .character("f"):
            prompt = filter
        case .character("s"):
            let all = Sort.allCases
            sort = all[(all.firstIndex(of: sort)! + 1) % all.count]
        case .escape, .backspace:
            guard page != .main else { return .none }
            page = .main
            scroll = 0
        case .up, .character("k"):
            return move(by: -1, in: failures)
        case .down, .character("j"):
            return move(by: 1, in: failures)
        case .pageUp:
            return move(by: -10, in: failures)
        case .pageDown:
            return move(by: 10, in: failures)
        case .home:
            return move(to: failures.first, in: failures)
        case .end:
            return move(to: failures.last, in: failures)
        case .enter:
            switch page {
            case .main:
                guard let id = selected.flatMap({ failures.contains($0) ? $0 : nil }) ?? failures.first else { return .none }
                selected = id
                page = .failure(id: id)
            case .failure, .help:
                page = .main
            }
            scroll = 0
        default:
            return .none
        }
        return .redraw
    }

    /// Lines a key scrolls a page by (`.max`: to the end).
    private static func scrollStep(_ key: DashboardKey, maxScroll: Int) -> Int? {
        switch key {
        case .up, .character("k"): -1
        case .down, .character("j"): 1
        case .pageUp: -10
        case .pageDown: 10
        case .home: Int.min / 2
        case .end: Int.max / 2
        default: nil
        }
    }

    private mutating func move(by step: Int, in failures: [Int]) -> DashboardAction {
        guard !failures.isEmpty else { return .none }
        guard let current = selected, let index = failures.firstIndex(of: current) else {
            return move(to: failures.first, in: failures)
        }
        return move(to: failures[max(0, min(failures.count - 1, index + step))], in: failures)
    }

    private mutating func move(to id: Int?, in failures: [Int]) -> DashboardAction {
        guard let id, id != selected else { return .none }
        selected = id
        return .redraw
    }
}
