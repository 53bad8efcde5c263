import Glibc
import StoretraceSession
import Testing
@testable import StoretraceExport

/// What a writer wrote, through a real sink into a temporary file.
func written(_ body: (OutputSink) -> Void) throws -> [UInt8] {
    var template = Array("/tmp/storetrace-export-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    try #require(fd >= 0)
    defer { close(fd); unlink(String(cString: template)) }
    let sink = OutputSink(fd: fd)
    body(sink)
    sink.flush()
    let size = Int(lseek(fd, 0, SEEK_END))
    var bytes = [UInt8](repeating: 0, count: size)
    let read = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, 0) }
    try #require(read == size)
    return bytes
}

@Suite struct PerfettoTraceWriterTests {
    /// A track, then an instant on it with a category, a name, an
    /// annotation and a flow's end; then a second instant with the same
    /// strings, which refers to them by iid only.
    @Test func packetsByteForByte() throws {
        let bytes = try written { sink in
            let writer = PerfettoTraceWriter(sink: sink)
            writer.describe(Track(uuid: 5, kind: .named("k")))
            var event = TimelineEvent(track: 5, timestamp: 1000, name: "n", categories: ["c"],
                                      annotations: [Annotation("a", .int(7))])
            event.flowsIn = [9]
            writer.event(event)
            event.flowsIn = []
            event.timestamp = 1001
            writer.event(event)
        }
        let describe: [UInt8] = [
            0x0A, 0x0A,                 // Trace.packet (1), 10 bytes
            0x50, 0x01,                 //   trusted_packet_sequence_id (10) = 1
            0xE2, 0x03, 0x05,           //   track_descriptor (60), 5 bytes
            0x08, 0x05,                 //     uuid (1) = 5
            0x12, 0x01, 0x6B,           //     name (2) = "k"
        ]
        let first: [UInt8] = [
            0x0A, 0x3B,                 // Trace.packet (1), 59 bytes
            0x40, 0xE8, 0x07,           //   timestamp (8) = 1000
            0xD0, 0x03, 0x03,           //   timestamp_clock_id (58) = 3, CLOCK_MONOTONIC
            0x50, 0x01,                 //   trusted_packet_sequence_id (10) = 1
            0x68, 0x01,                 //   sequence_flags (13) = SEQ_INCREMENTAL_STATE_CLEARED
            0x62, 0x15,                 //   interned_data (12), 21 bytes
            0x0A, 0x05, 0x08, 0x01, 0x12, 0x01, 0x63, //  event_categories (1) {iid 1, name "c"}
            0x12, 0x05, 0x08, 0x01, 0x12, 0x01, 0x6E, //  event_names (2) {iid 1, name "n"}
            0x1A, 0x05, 0x08, 0x01, 0x12, 0x01, 0x61, //  debug_annotation_names (3) {iid 1, name "a"}
            0x5A, 0x18,                 //   track_event (11), 24 bytes
            0x48, 0x03,                 //     type (9) = TYPE_INSTANT
            0x58, 0x05,                 //     track_uuid (11) = 5
            0x18, 0x01,                 //     category_iids (3) = 1
            0x50, 0x01,                 //     name_iid (10) = 1
            0x22, 0x04, 0x08, 0x01, 0x20, 0x07, // debug_annotations (4) {name_iid 1, int_value (4) 7}
            0x81, 0x03, 0x09, 0, 0, 0, 0, 0, 0, 0, // terminating_flow_ids (48), fixed64 9
        ]
        let second: [UInt8] = [
            0x0A, 0x1A,                 // Trace.packet (1), 26 bytes
            0x40, 0xE9, 0x07,           //   timestamp (8) = 1001
            0xD0, 0x03, 0x03,           //   timestamp_clock_id (58) = 3
            0x50, 0x01,                 //   trusted_packet_sequence_id (10) = 1
            0x68, 0x02,                 //   sequence_flags (13) = SEQ_NEEDS_INCREMENTAL_STATE
            0x5A, 0x0E,                 //   track_event (11), 14 bytes: no interned_data
            0x48, 0x03, 0x58, 0x05, 0x18, 0x01, 0x50, 0x01,
            0x22, 0x04, 0x08, 0x01, 0x20, 0x07,
        ]
        #expect(bytes == describe + first + second)
    }

    /// A slice is a begin and an end written together; the end carries only its track.
    @Test func aSliceIsABeginAndAnEnd() throws {
        let bytes = try written { sink in
            let writer = PerfettoTraceWriter(sink: sink)
            writer.event(TimelineEvent(track: 5, timestamp: 1000, duration: 24, name: "n", categories: [], annotations: []))
        }
        let end: [UInt8] = [
            0x0A, 0x10,                 // Trace.packet (1), 16 bytes
            0x40, 0x80, 0x08,           //   timestamp (8) = 1024
            0xD0, 0x03, 0x03,           //   timestamp_clock_id (58) = 3
            0x50, 0x01,                 //   trusted_packet_sequence_id (10) = 1
            0x68, 0x02,                 //   sequence_flags (13) = SEQ_NEEDS_INCREMENTAL_STATE
            0x5A, 0x04, 0x48, 0x02, 0x58, 0x05, // track_event {type SLICE_END, track_uuid 5}
        ]
        #expect(Array(bytes.suffix(end.count)) == end)
        // The begin's track event, just before: {type SLICE_BEGIN, track_uuid 5, name_iid 1}.
        #expect(Array(bytes[(bytes.count - end.count - 8)..<(bytes.count - end.count)]) == [0x5A, 0x06, 0x48, 0x01, 0x58, 0x05, 0x50, 0x01])
    }

    /// Past the limit the tables start over, and the packet says so.
    @Test func internTablesStartOverPastTheirLimit() throws {
        let bytes = try written { sink in
            let writer = PerfettoTraceWriter(sink: sink, internLimit: 3)
            for name in ["x", "y", "x"] {
                writer.event(TimelineEvent(track: 5, timestamp: 1000, name: name, categories: ["c"], annotations: []))
            }
        }
        // sequence_flags of each packet: cleared (then "c", "x" interned), needs
        // (and "y": 3, the limit), cleared again.
        let flags = bytes.indices.dropLast().filter { bytes[$0] == 0x68 }.map { bytes[$0 + 1] }
        #expect(flags == [1, 2, 1])
    }
}
