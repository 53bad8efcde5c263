// libFuzzer target for the capture record payload codecs (StoretraceRecords,
// CaptureRecordTypes.swift): the input is one payload, decoded by every codec
// (data records of each source kind, storetrace.holders with its report JSON,
// storetrace.claim's ClaimRecord, ftrace_format, ksym, task). What decodes is encoded again where a codec has
// an encoder and must give the same value back.
// Built and run by scripts/fuzz (target record-codecs).
import StoretraceDecode
import StoretraceRecords

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    for kind in SourceKind.allCases {
        for cpuInPayload in [false, true] {
            if let record = DataRecordCodec.decode(kind: kind, cpuInPayload: cpuInPayload, timestamp: 7,
                                                   flags: 3, payload: input) {
                precondition(record.bytes.count <= size, "a record larger than its payload")
            }
        }
    }
    if let (explained, report) = HoldersRecordCodec.decode(input) {
        _ = try? HolderReport(json: Array(report))
        let again = HoldersRecordCodec.encode(explained, reportJSON: "")
        precondition(again.withUnsafeBytes({ HoldersRecordCodec.decode($0)?.0 }) == explained
                     || explained.type.count > 15 || explained.comm.count > 15, "holders header does not round-trip")
    }
    if let claim = try? ClaimRecord(validating: input) {
        // Every accessor stays inside the 64 validated bytes.
        precondition(claim.bytes.count == ClaimLayout.size && claim.comm.count <= 16, "claim view out of bounds")
        _ = (claim.major, claim.minor, claim.pid, claim.tid, claim.mountNamespace, claim.uid, claim.timestamp,
             claim.holder, claim.errno)
    }
    if let (system, format) = FtraceFormatCodec.decode(input) {
        _ = FtraceEventCatalog(formats: [(system, format)])
    }
    if let (address, name) = KernelSymbolCodec.decode(input) {
        let again = KernelSymbolCodec.encode(address: address, name: name)
        precondition(again.withUnsafeBytes { KernelSymbolCodec.decode($0) }! == (address, name), "ksym does not round-trip")
    }
    if let (tid, identity) = TaskCodec.decode(input) {
        let again = TaskCodec.encode(tid: tid, identity)
        precondition(again.withUnsafeBytes(Array.init) == Array(input), "task does not round-trip")
    }
    return 0
}
