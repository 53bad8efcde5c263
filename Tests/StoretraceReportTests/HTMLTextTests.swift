import StoretraceRender
import Testing
@testable import StoretraceReport

/// Names come from other users of the node: every one is escaped on its
/// way into the page, for a terminal (controls, bytes that are not UTF-8)
/// and for HTML.
@Suite struct HTMLTextTests {
    func raw(_ bytes: [UInt8]) -> String {
        var out = OutputBuffer(capacity: 64)
        bytes.withUnsafeBytes { out.appendHTML(raw: $0) }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func markupInANameIsText() {
        #expect(raw(Array("<script>alert('x')</script>".utf8)) == "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
        #expect(raw(Array("a&b \"q\"".utf8)) == "a&amp;b &quot;q&quot;")
    }

    @Test func controlsAndBrokenUTF8AreEscapedAsForATerminal() {
        // ESC, a C1 CSI (U+009B), a raw 0x9B, a backslash, then good UTF-8.
        #expect(raw([0x1B, 0x5B, 0x33, 0x31, 0x6D, 0xC2, 0x9B, 0x9B, 0x5C] + Array("é<".utf8))
                == "\\x1b[31m\\xc2\\x9b\\x9b\\x5cé&lt;")
        #expect(raw([0x0A, 0x00]) == "\\x0a\\x00")
    }

    @Test func renderedTextKeepsItsEscapes() {
        var out = OutputBuffer(capacity: 64)
        out.appendHTML(rendered: "umount2(\"/tmp/\\x1b<x>\", 0) = -1 EBUSY\n  ↳ busy: pid 1 (a&b)")
        #expect(String(decoding: out.bytes, as: UTF8.self)
                == "umount2(&quot;/tmp/\\x1b&lt;x&gt;&quot;, 0) = -1 EBUSY\n  ↳ busy: pid 1 (a&amp;b)")
    }
}
