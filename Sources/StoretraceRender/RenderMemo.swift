import Glibc

/// What a piece of output was rendered from: four words the caller packs
/// (numbers, kind, flags) and the renderer's `generation`, which changes
/// whenever something the piece depends on besides its inputs changes (the
/// enrichment tables, colors, the kubelet root).
struct MemoKey: Equatable {
    var a: UInt64
    var b: UInt64
    var c: UInt64
    var d: UInt64
    var generation: UInt64
}

/// One rendered piece of an event remembered with its inputs, so that the
/// next event with the same inputs copies the bytes instead of formatting
/// them again.
///
/// Why: a stream's events repeat most of their text. A copy storm is one
/// task calling with the same two files, and formatting a task's identity
/// and a file's device, inode, name and read-ahead again for each call was
/// most of the cost of `replay --json` (BENCHMARKS.md). Inputs are compared
/// exactly (the key's words and the bytes of a name), never by a hash, so
/// a hit is by construction the bytes a fresh rendering would give; tests
/// render each piece with and without its memo.
///
/// Fixed storage allocated once: remembering allocates nothing, and a piece
/// too long for it is simply not remembered.
struct RenderMemo: ~Copyable {
    private let inputCapacity: Int
    private let textCapacity: Int
    private let input: UnsafeMutablePointer<UInt8>
    private let text: UnsafeMutablePointer<UInt8>
    private var key = MemoKey(a: 0, b: 0, c: 0, d: 0, generation: 0)
    /// Length of the remembered input bytes; -1 while nothing is remembered.
    private var inputCount = -1
    private var textCount = 0

    /// Inputs and pieces longer than these are not remembered.
    init(inputCapacity: Int = 256, textCapacity: Int = 1024) {
        self.inputCapacity = inputCapacity
        self.textCapacity = textCapacity
        input = .allocate(capacity: inputCapacity)
        text = .allocate(capacity: textCapacity)
    }

    deinit {
        input.deallocate()
        text.deallocate()
    }

    /// Appends the piece remembered for `key` and `bytes`; false (nothing
    /// appended) if the memo holds another one.
    @inline(__always)
    mutating func append(_ key: MemoKey, _ bytes: UnsafeRawBufferPointer, into out: inout OutputBuffer) -> Bool {
        guard inputCount == bytes.count, self.key == key,
              bytes.count == 0 || memcmp(input, bytes.baseAddress!, bytes.count) == 0 else { return false }
        out.append(bytes: UnsafeRawBufferPointer(start: text, count: textCount))
        return true
    }

    /// Remembers what `out` holds from `start` on as the piece rendered from
    /// `key` and `bytes`.
    mutating func remember(_ key: MemoKey, _ bytes: UnsafeRawBufferPointer, rendered out: borrowing OutputBuffer,
                           since start: Int) {
        let length = out.count - start
        guard bytes.count <= inputCapacity, length <= textCapacity else {
            inputCount = -1
            return
        }
        if let source = bytes.baseAddress { UnsafeMutableRawPointer(input).copyMemory(from: source, byteCount: bytes.count) }
        out.withUnsafeBytes { all in
            if length > 0 { UnsafeMutableRawPointer(text).copyMemory(from: all.baseAddress! + start, byteCount: length) }
        }
        self.key = key
        inputCount = bytes.count
        textCount = length
    }

    /// Forgets what is remembered (the next `append` misses).
    mutating func clear() { inputCount = -1 }

    /// For a call's own fields or arguments (`SyscallRecord.argumentBytes`):
    /// room for the arguments and paths of common length.
    static func forCalls() -> RenderMemo { RenderMemo(inputCapacity: 1024, textCapacity: 4096) }
}
