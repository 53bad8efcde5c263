// libFuzzer target for the node-snapshot JSON parser (NodeSnapshotJSON.swift,
// JSONValue.swift): a snapshot that decodes is encoded again and must decode
// to the same JSON. Built and run by scripts/fuzz (target node-snapshot-json).
import StoretraceDecode

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let snapshot = try? NodeSnapshot(json: bytes) else { return 0 }
    let text = snapshot.jsonText()
    guard let again = try? NodeSnapshot(json: text) else { preconditionFailure("encoded snapshot does not decode") }
    precondition(again.jsonText() == text, "snapshot JSON does not round-trip")
    _ = NodeSnapshotIndex(snapshot)
    return 0
}
