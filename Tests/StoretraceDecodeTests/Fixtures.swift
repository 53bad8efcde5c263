// Helpers for writing byte fixtures inline. Integers are little-endian, as
// on the x86_64 machines the fixtures describe.

func le16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
func le64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The bytes of a view as text, for readable expectations.
func text(_ view: UnsafeRawBufferPointer?) -> String? {
    view.map { String(decoding: $0, as: UTF8.self) }
}

/// A zeroed page with `bytes` written at `offset`, like the kernel hands out
/// (ring_buffer_read_page zeroes everything after the data).
func page(size: Int, writing chunks: [(offset: Int, bytes: [UInt8])]) -> [UInt8] {
    var page = [UInt8](repeating: 0, count: size)
    for chunk in chunks {
        page.replaceSubrange(chunk.offset..<chunk.offset + chunk.bytes.count, with: chunk.bytes)
    }
    return page
}
