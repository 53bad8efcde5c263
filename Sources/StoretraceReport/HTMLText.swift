import StoretraceRender

// Text into HTML. Names in a report come from other users of the node
// (process names, paths, pod names, kernel log lines), so every string is
// escaped on its way into the page, in text and in attribute values alike.

extension OutputBuffer {
    /// Text straight from the node or a capture: first the one terminal
    /// escaper (`appendPrintable`: control characters, bytes that are not
    /// UTF-8 and the backslash become `\xNN`, so a page shows them as a
    /// terminal would), then the five characters HTML gives a meaning to.
    /// The HTML ones are ASCII, so splitting there never cuts a UTF-8
    /// sequence in two.
    public mutating func appendHTML(raw text: UnsafeRawBufferPointer) {
        var start = 0
        for index in 0..<text.count {
            guard let entity = Self.entity(text[index]) else { continue }
            if index > start { appendPrintable(UnsafeRawBufferPointer(rebasing: text[start..<index])) }
            append(entity)
            start = index + 1
        }
        if start < text.count { appendPrintable(UnsafeRawBufferPointer(rebasing: text[start...])) }
    }

    public mutating func appendHTML(raw text: String) {
        var copy = text
        copy.withUTF8 { appendHTML(raw: UnsafeRawBufferPointer($0)) }
    }

    /// Text a renderer already made safe for a terminal (`TextRenderer`,
    /// `SnapshotRenderer` cells): only the HTML characters are escaped, so
    /// its `\xNN` escapes are not escaped twice.
    public mutating func appendHTML(rendered text: UnsafeRawBufferPointer) {
        var start = 0
        for index in 0..<text.count {
            guard let entity = Self.entity(text[index]) else { continue }
            if index > start { append(bytes: UnsafeRawBufferPointer(rebasing: text[start..<index])) }
            append(entity)
            start = index + 1
        }
        if start < text.count { append(bytes: UnsafeRawBufferPointer(rebasing: text[start...])) }
    }

    public mutating func appendHTML(rendered text: String) {
        var copy = text
        copy.withUTF8 { appendHTML(rendered: UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    static func entity(_ byte: UInt8) -> StaticString? {
        switch byte {
        case UInt8(ascii: "&"): "&amp;"
        case UInt8(ascii: "<"): "&lt;"
        case UInt8(ascii: ">"): "&gt;"
        case UInt8(ascii: "\""): "&quot;"
        case UInt8(ascii: "'"): "&#39;"
        default: nil
        }
    }
}
