// libFuzzer target for the syscall record decoder (SyscallRecord.swift) and
// the two renderers of its records (TextRenderer with and without colour,
// JSONRenderer) into an OutputBuffer: the input is one ring-buffer record as
// bpf/storetrace.bpf.c writes it. Built and run by scripts/fuzz (target syscall-record).
import StoretraceDecode
import StoretraceRender

private let clock = ClockOffset(realtimeMinusMonotonic: 1_700_000_000_000_000_000)
private let plain = TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock)
private let colored = TextRenderer(color: true, utcOffsetSeconds: 3600, clock: clock)
private let json = JSONRenderer(clock: clock)
private var out = OutputBuffer()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    _ = SyscallRecord.timestamp(of: input)
    guard let record = try? SyscallRecord(validating: input) else { return 0 }
    for renderer in [plain, colored] {
        out.removeAll()
        renderer.render(record, into: &out)
    }
    out.removeAll()
    json.render(record, into: &out)
    // One JSON object per line: the renderer escapes every newline inside.
    out.withUnsafeBytes { bytes in
        precondition(bytes.last == 0x0A && bytes.dropLast().firstIndex(of: 0x0A) == nil, "JSON line has a raw newline")
    }
    return 0
}
