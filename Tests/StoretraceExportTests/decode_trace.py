"""Decodes a Perfetto trace written by `storetrace export` with Perfetto's
own compiled protos (the `perfetto` package's perfetto_trace_pb2, with
`protobuf`), resolves its interned strings and sequence state as the trace
processor does, checks what the format requires, and prints one JSON
object: the clock snapshot, the tracks, the slices (begin matched with
end), the instants, the counter values and the flows between events.

usage: decode_trace.py TRACE
"""
import json
import sys

from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

TYPE = pb.TrackEvent.Type
SEQ_CLEARED = pb.TracePacket.SEQ_INCREMENTAL_STATE_CLEARED
SEQ_NEEDS = pb.TracePacket.SEQ_NEEDS_INCREMENTAL_STATE


def annotation_value(a):
    kind = a.WhichOneof("value")
    if kind is None:
        if a.dict_entries:
            return {e.name: annotation_value(e) for e in a.dict_entries}
        if a.array_values:
            return [annotation_value(e) for e in a.array_values]
        return None
    if kind in ("nested_value", "legacy_json_value", "pointer_value", "string_value_iid"):
        raise ValueError("unexpected annotation value kind " + kind)
    return getattr(a, kind)


def main(path):
    trace = pb.Trace()
    with open(path, "rb") as f:
        trace.ParseFromString(f.read())
    errors = []
    out = {"clock": None, "tracks": [], "slices": [], "instants": [], "counters": [], "flows": []}
    tables = None  # interned strings of sequence 1, by kind then iid
    open_slices = {}  # track uuid -> stack of slice dicts
    flow_starts, flow_ends = {}, {}
    known_tracks = set()
    events = []
    for index, packet in enumerate(trace.packet):
        if packet.trusted_packet_sequence_id != 1:
            errors.append(f"packet {index}: sequence id {packet.trusted_packet_sequence_id}")
        if packet.HasField("clock_snapshot"):
            snap = packet.clock_snapshot
            out["clock"] = {"primary": snap.primary_trace_clock,
                            "clocks": {str(c.clock_id): c.timestamp for c in snap.clocks}}
            continue
        if packet.HasField("track_descriptor"):
            d = packet.track_descriptor
            track = {"uuid": d.uuid, "parent": d.parent_uuid if d.HasField("parent_uuid") else None}
            if d.HasField("process"):
                track.update(type="process", pid=d.process.pid, name=d.process.process_name)
            elif d.HasField("thread"):
                track.update(type="thread", pid=d.thread.pid, tid=d.thread.tid, name=d.thread.thread_name)
            elif d.HasField("counter"):
                track.update(type="counter", name=d.name, unit=d.counter.unit_name)
            else:
                track.update(type="named", name=d.name)
            if track["parent"] is not None and track["parent"] not in known_tracks:
                errors.append(f"packet {index}: track {d.uuid} before its parent {track['parent']}")
            known_tracks.add(d.uuid)
            out["tracks"].append(track)
            continue
        if not packet.HasField("track_event"):
            errors.append(f"packet {index}: neither clock, track nor track event")
            continue
        if packet.timestamp_clock_id != 3:
            errors.append(f"packet {index}: clock {packet.timestamp_clock_id}, not MONOTONIC")
        if packet.sequence_flags & SEQ_CLEARED:
            tables = {"cat": {}, "name": {}, "ann": {}}
        elif not packet.sequence_flags & SEQ_NEEDS:
            errors.append(f"packet {index}: track event without SEQ_NEEDS_INCREMENTAL_STATE")
        if tables is None:
            errors.append(f"packet {index}: interned data before SEQ_INCREMENTAL_STATE_CLEARED")
            tables = {"cat": {}, "name": {}, "ann": {}}
        if packet.HasField("interned_data"):
            data = packet.interned_data
            for kind, entries in (("cat", data.event_categories), ("name", data.event_names),
                                  ("ann", data.debug_annotation_names)):
                for e in entries:
                    if e.iid in tables[kind] and tables[kind][e.iid] != e.name:
                        errors.append(f"packet {index}: iid {e.iid} of {kind} redefined")
                    tables[kind][e.iid] = e.name
        te = packet.track_event
        if te.track_uuid not in known_tracks:
            errors.append(f"packet {index}: event on undescribed track {te.track_uuid}")
        def lookup(kind, iid):
            if iid not in tables[kind]:
                errors.append(f"packet {index}: unknown {kind} iid {iid}")
                return None
            return tables[kind][iid]
        if te.type == TYPE.TYPE_COUNTER:
            out["counters"].append({"track": te.track_uuid, "ts": packet.timestamp, "value": te.double_counter_value})
            continue
        if te.type == TYPE.TYPE_SLICE_END:
            stack = open_slices.get(te.track_uuid)
            if not stack:
                errors.append(f"packet {index}: slice end without begin on {te.track_uuid}")
                continue
            s = stack.pop()
            s["dur"] = packet.timestamp - s["ts"]
            continue
        event = {"track": te.track_uuid, "ts": packet.timestamp,
                 "name": lookup("name", te.name_iid),
                 "categories": [lookup("cat", c) for c in te.category_iids],
                 "args": {lookup("ann", a.name_iid): annotation_value(a) for a in te.debug_annotations},
                 "flow_ids": list(te.flow_ids), "terminating_flow_ids": list(te.terminating_flow_ids)}
        events.append(event)
        for fid in te.flow_ids:
            if fid in flow_starts:
                errors.append(f"packet {index}: flow {fid} started twice")
            flow_starts[fid] = event
        for fid in te.terminating_flow_ids:
            flow_ends[fid] = event
        if te.type == TYPE.TYPE_SLICE_BEGIN:
            open_slices.setdefault(te.track_uuid, []).append(event)
            out["slices"].append(event)
        elif te.type == TYPE.TYPE_INSTANT:
            out["instants"].append(event)
        else:
            errors.append(f"packet {index}: track event type {te.type}")
    for uuid, stack in open_slices.items():
        for s in stack:
            errors.append(f"slice {s['name']} on {uuid} never ended")
    for fid, end in flow_ends.items():
        start = flow_starts.get(fid)
        if start is None:
            errors.append(f"flow {fid} ends without a start")
            continue
        out["flows"].append({"id": fid, "from": start["name"], "from_ts": start["ts"],
                             "to": end["name"], "to_ts": end["ts"]})
    out["errors"] = errors
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1])
