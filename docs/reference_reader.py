#!/usr/bin/env python3
"""Minimal independent reader for storetrace capture files (formats 1.x and 2.x).

Written from docs/capture-format.md only; used to check that the spec is
complete. Usage: reference_reader.py FILE   (prints a summary, exit 1 on a
file-header error). Not optimized; not part of the Swift package. Reading
compressed (2.x) chunks needs the `zstandard` package
(scripts/lib/python-requirements.txt); 1.x files do not.
"""
import struct
import sys

try:
    import zstandard
except ImportError:  # 1.x files need no codec; a zstd chunk then says so
    zstandard = None

def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t

_T = _crc_table()

def crc32c(data, crc=0):
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF

FILE_MAGIC = b"\x89STRCAP\n"
CHUNK_MAGIC = b"STCK"
MAX_PAYLOAD = 64 << 20
MAX_EXPANSION = 1024


def decode_chunk(encoding, payload):
    """The records area of a 2.x chunk (section 4.3), or a ValueError saying why not."""
    if encoding != 1:
        raise ValueError("unknown encoding %d" % encoding)
    if len(payload) < 8:
        raise ValueError("payload shorter than its prefix")
    decoded_len, frame_len = struct.unpack_from("<II", payload, 0)
    if decoded_len == 0 or decoded_len % 8 or decoded_len > MAX_PAYLOAD:
        raise ValueError("bad decoded length %d" % decoded_len)
    if decoded_len > MAX_EXPANSION * len(payload):
        raise ValueError("decoded length %d over %d times the payload" % (decoded_len, MAX_EXPANSION))
    if frame_len == 0 or 8 + frame_len > len(payload) or len(payload) - (8 + frame_len) >= 8:
        raise ValueError("frame length %d does not fill the payload" % frame_len)
    if zstandard is None:
        raise ValueError("zstd chunk: the zstandard package is not installed")
    frame = bytes(payload[8:8 + frame_len])
    params = zstandard.get_frame_parameters(frame)
    if params.content_size != decoded_len:
        raise ValueError("frame declares %d bytes, the prefix %d" % (params.content_size, decoded_len))
    # One frame exactly, decoded into at most the declared size: more is a bomb.
    dctx = zstandard.ZstdDecompressor()
    obj = dctx.decompressobj()
    try:
        out = obj.decompress(frame)
    except zstandard.ZstdError as e:
        raise ValueError("zstd: %s" % e)
    if len(out) != decoded_len or not obj.eof or obj.unused_data:
        raise ValueError("frame decodes to %d bytes, %d declared" % (len(out), decoded_len))
    return out

def read_capture(data):
    if len(data) < 16:
        raise ValueError("offset 0: truncated file header")
    if data[:8] != FILE_MAGIC:
        raise ValueError("offset 0: bad magic")
    major, minor, hlen = struct.unpack_from("<HHI", data, 8)
    if major not in (1, 2):
        raise ValueError("offset 8: unsupported major version %d" % major)
    if hlen < 64 or hlen > 4096 or hlen % 8:
        raise ValueError("offset 12: bad header length")
    if len(data) < hlen:
        raise ValueError("offset 0: truncated file header")
    if struct.unpack_from("<I", data, hlen - 4)[0] != crc32c(data[:hlen - 4]):
        raise ValueError("offset %d: header checksum mismatch" % (hlen - 4))
    out = {"version": (major, minor), "schemas": {}, "records": [], "clocks": [],
           "snapshots": [], "trailer": None, "corrupt": [], "tail": None,
           "stored_bytes": 0, "record_bytes": 0, "encoded_chunks": 0}
    pos, bad_start, last_seq, scanning = hlen, None, None, False
    while True:
        if len(data) - pos < 48:
            break
        h = data[pos:pos + 48]
        ok = (h[:4] == CHUNK_MAGIC and struct.unpack_from("<I", h, 44)[0] == crc32c(h[:44]))
        flags, encoding, seq, plen, count, tmin, tmax, pcrc = struct.unpack_from("<HHQIIQQI", h, 4) if ok else (0,) * 8
        if ok and (plen > MAX_PAYLOAD or plen % 8):
            ok = False
        if ok and scanning and last_seq is not None and seq <= last_seq:
            ok = False
        if not ok:
            if bad_start is None:
                bad_start = pos
            scanning = True
            pos += 8
            continue
        if len(data) - pos < 48 + plen:
            if scanning:
                pos += 8
                continue
            break
        payload = data[pos + 48:pos + 48 + plen]
        if crc32c(payload) != pcrc:
            if not scanning and bad_start is None:
                bad_start = pos
            if scanning:
                pos += 8
            else:
                pos += 48 + plen
            continue
        if bad_start is not None:
            out["corrupt"].append((bad_start, pos - bad_start))
            bad_start = None
        scanning = False
        last_seq = seq
        records = payload
        if major >= 2 and encoding != 0:
            try:
                records = decode_chunk(encoding, payload)
            except ValueError as e:
                # Good checksums, undecodable payload: damage at this chunk only.
                out["corrupt"].append((pos, 48 + plen))
                out.setdefault("undecodable", []).append((pos, str(e)))
                pos += 48 + plen
                continue
            out["encoded_chunks"] += 1
        out["stored_bytes"] += plen
        out["record_bytes"] += len(records)
        rlen_total = len(records)
        off = 0
        while off < rlen_total:
            if rlen_total - off < 16:
                break
            rtype, rflags, rlen, ts = struct.unpack_from("<HHIQ", records, off)
            size = 16 + ((rlen + 7) & ~7)
            if size > rlen_total - off:
                break
            body = records[off + 16:off + 16 + rlen]
            try:
                read_record(out, rtype, rflags, ts, body, pos + 48 + plen)
            except (struct.error, UnicodeDecodeError, IndexError):
                # A metadata payload too short or not UTF-8: skipped and
                # counted (section 5), never fatal.
                out["malformed_metadata"] = out.get("malformed_metadata", 0) + 1
            off += size
        pos += 48 + plen
    if bad_start is not None:
        out["tail"] = ("torn", bad_start)
    elif pos < len(data):
        out["tail"] = ("torn", pos)
    elif out.get("trailer_end") == pos:
        out["tail"] = ("complete", pos)
    else:
        out["tail"] = ("unclosed", pos)
    return out


def read_record(out, rtype, rflags, ts, body, chunk_end):
    """One record of a valid chunk: metadata into `out`, data appended."""
    if rtype == 0xFF00:
        tid, ver, nlen, _, tlen = struct.unpack_from("<HHHHI", body, 0)
        name = body[16:16 + nlen].decode()
        text = body[16 + nlen:16 + nlen + tlen].decode()
        out["schemas"][tid] = (name, ver, text)
    elif rtype == 0xFF01:
        out["clocks"].append(struct.unpack_from("<QQQQ", body, 0))
    elif rtype == 0xFF02:
        out["snapshots"].append(bytes(body))
    elif rtype == 0xFF03:
        tot, chunks, emono, ereal, nt, nd, nlen, _ = struct.unpack_from("<QQQQIIII", body, 0)
        o = 48
        by_type = {}
        for _ in range(nt):
            t, _, _, c = struct.unpack_from("<HHIQ", body, o)
            by_type[t] = c
            o += 16
        drops = []
        for _ in range(nd):
            c, ln, _ = struct.unpack_from("<QII", body, o)
            o += 16
            drops.append((body[o:o + ln].decode(), c))
            o += (ln + 7) & ~7
        note = body[o:o + nlen].decode()
        out["trailer"] = dict(records=tot, chunks=chunks, by_type=by_type, drops=drops, note=note)
        out["trailer_end"] = chunk_end
    elif rtype < 0xFF00:
        out["records"].append((rtype, rflags, ts, bytes(body)))


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    try:
        r = read_capture(data)
    except ValueError as e:
        print(e)
        sys.exit(1)
    print("version %d.%d" % r["version"])
    print("chunks: %d compressed; records %d bytes stored as %d" % (r["encoded_chunks"], r["record_bytes"], r["stored_bytes"]))
    for offset, why in r.get("undecodable", []):
        print("undecodable chunk at offset %d: %s" % (offset, why))
    for tid, (name, ver, text) in sorted(r["schemas"].items()):
        print("schema %d: %s v%d (%d fields)" % (tid, name, ver, len([l for l in text.splitlines() if l.strip() and not l.startswith("#")])))
    counts = {}
    for rec in r["records"]:
        counts[rec[0]] = counts.get(rec[0], 0) + 1
    print("records", len(r["records"]), dict(sorted(counts.items())))
    print("clock samples", len(r["clocks"]), "snapshots", len(r["snapshots"]))
    print("trailer", r["trailer"])
    print("corrupt regions", r["corrupt"])
    print("tail", r["tail"])
