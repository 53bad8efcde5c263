import StoretraceRender
import Testing

/// The character grid of `storetrace top`: what is written, what the tests
/// read back, and the escape sequences that bring a terminal to it.
@Suite struct ScreenTests {
    @Test func putTruncatesWithAnEllipsisAndReturnsTheColumns() {
        var screen = Screen(width: 10, height: 2)
        #expect(screen.put("hello", row: 0, column: 0) == 5)
        #expect(screen.put("world wide web", row: 1, column: 2) == 8)
        #expect(screen.put("ab", row: 0, column: 6, limit: 1) == 1)
        #expect(screen.text() == "hello …\n  world w…\n")
        // Out of the grid: nothing written.
        #expect(screen.put("x", row: 2, column: 0) == 0 && screen.put("x", row: 0, column: 10) == 0)
    }

    @Test func controlsAndZeroWidthCharactersAreSpelledOutWideOnesTakeTwoColumns() {
        var screen = Screen(width: 60, height: 1)
        // ESC, BEL, C1 CSI (U+009B), a combining acute, a right-to-left override, then two wide characters.
        let written = screen.put("a\u{1B}[2J\u{07}\u{9B}e\u{301}\u{202E}z日本", row: 0, column: 0)
        #expect(screen.text() == "a\\x1b[2J\\x07\\xc2\\x9be\\xcc\\x81\\xe2\\x80\\xaez日本\n")
        #expect(written == 1 + 4 + 3 + 4 + 8 + 1 + 8 + 12 + 1 + 4)
        #expect(Screen.columns(of: "日本") == 4 && Screen.columns(of: "\u{1B}") == 4)
        // A wide character that does not fit whole is not cut in half.
        var narrow = Screen(width: 4, height: 1)
        #expect(narrow.put("a日本", row: 0, column: 0) == 4)
        #expect(narrow.text() == "a日…\n")
    }

    @Test func styleTextMarksEachCell() {
        var screen = Screen(width: 12, height: 1)
        screen.put("ab", row: 0, column: 0, style: .bold)
        screen.put("cd", row: 0, column: 2, style: .color(.red))
        screen.put("ef", row: 0, column: 4, style: Screen.Style(reverse: true, color: .yellow))
        screen.put("gh", row: 0, column: 6, style: .reverse)
        screen.put("ij", row: 0, column: 8, style: .dim)
        screen.restyle(row: 0, columns: 9..<11) { $0.color = .cyan }
        #expect(screen.styleText() == "wwrrYYWWdcc\n")
    }

    /// The first frame clears and draws what is not blank; the next sends
    /// only the changed cells, each run with one cursor move; styles as SGR.
    @Test func ansiUpdateSendsOnlyWhatChanged() {
        var first = Screen(width: 10, height: 2)
        first.put("ab", row: 0, column: 0)
        first.put("x", row: 1, column: 3, style: .color(.red, bold: true))
        let clear = "\u{1B}[0m\u{1B}[H\u{1B}[2J"
        #expect(String(decoding: first.ansiUpdate(from: nil, color: true), as: UTF8.self)
                == clear + "\u{1B}[1;1Hab\u{1B}[2;4H\u{1B}[0;1;31mx\u{1B}[0m")
        var second = first
        second.put("c", row: 0, column: 1)
        second.put("y", row: 1, column: 9)
        #expect(String(decoding: second.ansiUpdate(from: first, color: true), as: UTF8.self)
                == "\u{1B}[1;2H\u{1B}[0mc\u{1B}[2;10Hy\u{1B}[0m")
        // Two changes four cells apart are one run: the cells between are sent again.
        var third = second
        third.put("1", row: 0, column: 2)
        third.put("2", row: 0, column: 7)
        #expect(String(decoding: third.ansiUpdate(from: second, color: true), as: UTF8.self)
                == "\u{1B}[1;3H\u{1B}[0m1    2\u{1B}[0m")
        // Without color, red is bold; nothing changed sends only the reset.
        #expect(String(decoding: first.ansiUpdate(from: nil, color: false), as: UTF8.self)
                == clear + "\u{1B}[1;1Hab\u{1B}[2;4H\u{1B}[0;1mx\u{1B}[0m")
        #expect(String(decoding: third.ansiUpdate(from: third, color: true), as: UTF8.self) == "\u{1B}[0m")
        // Another size: everything again.
        #expect(Screen(width: 3, height: 1).ansiUpdate(from: first, color: true) == Array((clear + "\u{1B}[0m").utf8))
    }

    /// A wide character whose right half changed is sent whole.
    @Test func ansiUpdateSendsWideCharactersWhole() {
        var before = Screen(width: 6, height: 1)
        before.put("ab", row: 0, column: 0)
        var after = Screen(width: 6, height: 1)
        after.put("a日", row: 0, column: 0)
        #expect(String(decoding: after.ansiUpdate(from: before, color: true), as: UTF8.self) == "\u{1B}[1;2H\u{1B}[0m日\u{1B}[0m")
    }
}

/// Keys as the terminal sends them in raw mode, and what each does to the
/// dashboard's state.
@Suite struct DashboardKeyTests {
    @Test func decodesKeysAndEscapeSequences() {
        #expect(DashboardKey.decode(Array("q".utf8)) == [.character("q")])
        #expect(DashboardKey.decode([0x03, 0x0D, 0x0A, 0x7F, 0x08, 0x1B]) == [.interrupt, .enter, .enter, .backspace, .backspace, .escape])
        #expect(DashboardKey.decode(Array("\u{1B}[A\u{1B}[B\u{1B}OA\u{1B}[5~\u{1B}[6~\u{1B}[H\u{1B}[F\u{1B}[1~\u{1B}[4~".utf8))
                == [.up, .down, .up, .pageUp, .pageDown, .home, .end, .home, .end])
        // A function key, a cut sequence, other controls: ignored, never a crash.
        #expect(DashboardKey.decode(Array("\u{1B}[15~x".utf8)) == [.other, .character("x")])
        #expect(DashboardKey.decode(Array("\u{1B}[1".utf8)) == [.other])
        #expect(DashboardKey.decode([0x01, 0xFF]) == [.other, .other])
        // Escape then a key (Alt-x): both.
        #expect(DashboardKey.decode(Array("\u{1B}x".utf8)) == [.escape, .character("x")])
        // UTF-8 typed into the filter; a cut sequence is ignored.
        #expect(DashboardKey.decode(Array("é".utf8)) == [.character("é")])
        #expect(DashboardKey.decode([0xC3]) == [.other])
    }

    @Test func quitPauseSortHelpAndInterrupt() {
        var state = DashboardViewState()
        #expect(state.handle(.character("q"), failures: []) == .quit)
        #expect(state.handle(.interrupt, failures: []) == .interrupt)
        #expect(state.handle(.character("p"), failures: []) == .redraw && state.paused)
        #expect(state.handle(.character("p"), failures: []) == .redraw && !state.paused)
        #expect(state.handle(.character("s"), failures: []) == .redraw && state.sort == .count)
        #expect(state.handle(.character("s"), failures: []) == .redraw && state.sort == .name)
        #expect(state.handle(.character("s"), failures: []) == .redraw && state.sort == .recent)
        #expect(state.handle(.character("?"), failures: []) == .redraw && state.page == .help)
        // Scrolling the help page stops at its end and at its start.
        #expect(state.handle(.pageDown, failures: [], maxScroll: 4) == .redraw && state.scroll == 4)
        #expect(state.handle(.down, failures: [], maxScroll: 4) == .none && state.scroll == 4)
        #expect(state.handle(.up, failures: [], maxScroll: 4) == .redraw && state.scroll == 3)
        #expect(state.handle(.home, failures: [], maxScroll: 4) == .redraw && state.scroll == 0)
        #expect(state.handle(.escape, failures: []) == .redraw && state.page == .main && state.scroll == 0)
        #expect(state.handle(.escape, failures: []) == .none)
        #expect(state.handle(.character("x"), failures: []) == .none)
        // Ctrl-C quits from the filter prompt too.
        #expect(state.handle(.character("f"), failures: []) == .redraw)
        #expect(state.handle(.interrupt, failures: []) == .interrupt)
    }

    @Test func filterPromptTypesAppliesAndCancels() {
        var state = DashboardViewState()
        for key in DashboardKey.decode(Array("fgloba".utf8)) { _ = state.handle(key, failures: []) }
        #expect(state.prompt == "globa" && state.filter.isEmpty)
        // q is text while typing, not quit.
        #expect(state.handle(.character("q"), failures: []) == .redraw && state.prompt == "globaq")
        _ = state.handle(.backspace, failures: [])
        _ = state.handle(.enter, failures: [])
        #expect(state.filter == "globa" && state.prompt == nil)
        // f edits the filter in force; Esc leaves it as it was.
        _ = state.handle(.character("f"), failures: [])
        #expect(state.prompt == "globa")
        _ = state.handle(.character("x"), failures: [])
        _ = state.handle(.escape, failures: [])
        #expect(state.filter == "globa" && state.prompt == nil)
        // Empty clears.
        _ = state.handle(.character("f"), failures: [])
        for _ in 0..<5 { _ = state.handle(.backspace, failures: []) }
        _ = state.handle(.enter, failures: [])
        #expect(state.filter.isEmpty)
    }

    @Test func selectionAndDetailFollowTheListedFailures() {
        var state = DashboardViewState()
        #expect(state.handle(.enter, failures: []) == .none && state.page == .main)
        // Enter without a selection opens the first listed.
        #expect(state.handle(.enter, failures: [7, 3, 9]) == .redraw && state.page == .failure(id: 7) && state.selected == 7)
        // On the detail page the arrows scroll it; Enter and Esc go back.
        #expect(state.handle(.down, failures: [7, 3, 9], maxScroll: 2) == .redraw && state.scroll == 1 && state.selected == 7)
        #expect(state.handle(.enter, failures: [7, 3, 9]) == .redraw && state.page == .main && state.scroll == 0)
        #expect(state.handle(.end, failures: [7, 3, 9]) == .redraw && state.selected == 9)
        #expect(state.handle(.pageUp, failures: [7, 3, 9]) == .redraw && state.selected == 7)
        #expect(state.handle(.pageDown, failures: [7, 3, 9]) == .redraw && state.selected == 9)
        // The selected failure gone from the list (filtered, dropped): the first is taken.
        #expect(state.handle(.down, failures: [4, 5]) == .redraw && state.selected == 4)
        #expect(state.handle(.enter, failures: [5]) == .redraw && state.page == .failure(id: 5))
    }
}
