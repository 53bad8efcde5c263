// libFuzzer target for the holders report JSON decoder (HolderReportJSON.swift,
// JSONValue.swift): a report that decodes is encoded again and must decode to
// the same JSON. Built and run by scripts/fuzz (target holder-report-json).
import StoretraceDecode

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let report = try? HolderReport(json: bytes) else { return 0 }
    let text = report.jsonText()
    guard let again = try? HolderReport(json: text) else { preconditionFailure("encoded report does not decode") }
    precondition(again.jsonText() == text, "holder report JSON does not round-trip")
    return 0
}
