// libFuzzer target for the tracefs format-text parsers (TraceFormat.swift):
// the input is parsed as an event `format` file and as `header_page`; a format
// that parses is then used on the input's own bytes as a record (every field
// read as its kind says), and as a function-tracer decoder.
// Built and run by scripts/fuzz (target trace-format).
import StoretraceDecode

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    if let format = try? EventFormat(parsing: input) {
        precondition(format.fields.count <= size, "more fields than bytes of text")
        for field in format.fields {
            precondition(format.field(named: field.name) != nil, "a parsed field cannot be found by name")
            _ = FtraceFieldValue(field.layout, in: input)
            _ = try? field.layout.integer(in: input)
            _ = try? field.layout.bytes(in: input)
        }
        _ = try? FunctionEventDecoder(format: format).decode(input)
        _ = FtraceEventCatalog(formats: [("ftrace", format)]).format(id: format.id)
    }
    if let header = try? PageHeaderFormat(parsing: input) {
        _ = FtracePage.forEachEvent(in: input, format: header) { (_, _) throws(Never) in }
    }
    return 0
}
