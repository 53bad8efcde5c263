#!/usr/bin/env python3
"""Writes the seed corpora of the parser fuzz targets (Fuzz/corpus/<target>/) and
their dictionaries (Fuzz/<target>.dict) from the test fixtures: the multi-line
string literals of Tests/StoretraceDecodeTests, the annotated syscall record
(SyscallRecordTests.mountFixture), the node snapshots inside the capture
fixtures, and the JSON keys the decoders look for. Deterministic; run by
`scripts/fuzz --make-seeds`, the output is committed."""
import os, re, struct, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
tests = os.path.join(root, "Tests")
corpus = os.path.join(root, "Fuzz", "corpus")

def read(*parts):
    with open(os.path.join(*parts), "rb") as f:
        return f.read()

def swift_literals(path):
    """The multi-line string literals of a Swift file, as bytes (no interpolation)."""
    text = read(path).decode()
    out = []
    for m in re.finditer(r'"""\n(.*?)\n([ \t]*)"""', text, re.S):
        body, indent = m.group(1), m.group(2)
        if "\\(" in body:
            continue
        lines = [l[len(indent):] if l.startswith(indent) else l.lstrip() for l in body.split("\n")]
        s = "\n".join(lines)
        s = re.sub(r"\\\n", "", s)  # line continuation
        s = re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda x: chr(int(x.group(1), 16)), s)
        s = s.replace("\\0", "\0").replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r")
        s = s.replace('\\"', '"').replace("\\\\", "\\")
        out.append(s.encode())
    return out

def raw_literals(path):
    """The single-line raw string literals #"..."# of a Swift file."""
    return [m.group(1).encode() for m in re.finditer(r'#"(.*?)"#', read(path).decode())]

def write(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def write_all(target, prefix, items, limit=4096):
    for i, data in enumerate(items):
        if 0 < len(data) <= limit:
            write(target, "%s-%02d" % (prefix, i), data)

def write_dict(target, tokens):
    with open(os.path.join(root, "Fuzz", target + ".dict"), "w") as f:
        f.write("# libFuzzer dictionary for %s, written by Fuzz/make-parser-seeds.py\n" % target)
        for t in sorted(set(tokens)):
            esc = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c) for c in t)
            f.write('"%s"\n' % esc)

def json_objects(data, start):
    """Balanced JSON objects in `data` beginning with `start`."""
    out, i = [], data.find(start)
    while i >= 0:
        depth, j, in_str = 0, i, False
        while j < len(data):
            c = data[j:j + 1]
            if in_str:
                if c == b"\\": j += 1
                elif c == b'"': in_str = False
            elif c == b'"': in_str = True
            elif c == b"{": depth += 1
            elif c == b"}":
                depth -= 1
                if depth == 0:
                    out.append(data[i:j + 1])
                    break
            j += 1
        i = data.find(start, j)
    return out

def string_keys(path):
    return [m for m in re.findall(r'"([a-z_]{2,40})"', read(path).decode())]

decode_tests = os.path.join(tests, "StoretraceDecodeTests")
session_fixtures = os.path.join(tests, "StoretraceSessionTests", "Fixtures")
trace_texts = swift_literals(os.path.join(decode_tests, "TraceFormatTests.swift")) \
    + swift_literals(os.path.join(decode_tests, "FtracePageTests.swift")) \
    + swift_literals(os.path.join(decode_tests, "FtraceEventViewTests.swift"))

# trace-format: the format files and header_page texts of the tests.
write_all("trace-format", "test", trace_texts)
write_dict("trace-format", ["name: ", "ID: ", "format:\n", "\tfield:", ";\toffset:", ";\tsize:", ";\tsigned:",
                            "print fmt: ", "__data_loc ", "__rel_loc ", "char[]", "unsigned ", "common_type", "[", "]"])

# uevent, kmsg, proc-text: the texts of their tests.
write_all("uevent", "test", swift_literals(os.path.join(decode_tests, "UeventTests.swift")))
write_dict("uevent", ["ACTION=", "DEVPATH=", "SUBSYSTEM=", "SEQNUM=", "DEVNAME=", "MAJOR=", "MINOR=", "DRIVER=",
                      "add@", "remove@", "bind@", "change@", "\0"])
write_all("kmsg", "test", swift_literals(os.path.join(decode_tests, "KmsgTests.swift"))
          + raw_literals(os.path.join(decode_tests, "KmsgTests.swift"))
          + [b"6,1234,5678901,-;loop0: detected capacity change from 0 to 8\n SUBSYSTEM=block\n DEVICE=b7:0\n",
             b"3,99,10,c;EXT4-fs (sda1): error \\x0a here\n"])
write_dict("kmsg", ["6,", ",-;", ",c;", "\n SUBSYSTEM=", "\n DEVICE=", "\\x0a", "\\x", "<6>"])
proc = swift_literals(os.path.join(decode_tests, "HolderTextTests.swift")) \
    + swift_literals(os.path.join(decode_tests, "NodeSnapshotTests.swift"))
proc.append(b"36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
            b"46 29 0:41 / /run/pin rw shared:5 propagate_from:2 unbindable - nsfs nsfs rw\n"
            b"50 29 0:45 /a\\040b /x rw - tmpfs  rw\n")
write_all("proc-text", "test", [p for p in proc if not p.lstrip().startswith(b"{")])
write_dict("proc-text", [" - ", "shared:", "master:", "propagate_from:", "unbindable", "\\040", "mnt_id:\t",
                         "flags:\t", "Name:\t", "PPid:\t", "Kthread:\t", "0::/", "mnt:[", "\n"])

# node-snapshot-json: the snapshots inside the capture fixtures and the test's expected text.
snaps = []
for f in sorted(os.listdir(session_fixtures)):
    if f.endswith(".stcap"):
        snaps += json_objects(read(session_fixtures, f), b'{"format":"storetrace-node-snapshot"')
snaps += [p for p in swift_literals(os.path.join(decode_tests, "NodeSnapshotTests.swift")) if p.lstrip().startswith(b"{")]
write_all("node-snapshot-json", "fixture", snaps, limit=65536)
write_dict("node-snapshot-json", string_keys(os.path.join(root, "Sources", "StoretraceDecode", "NodeSnapshotJSON.swift"))
           + ["{", "}", "[", "]", "null", "true", "false", '":', "\\u0000"])

# holder-report-json: the documents of the holder JSON tests, and the decoder's keys.
holder_json = [b'{"format":"storetrace-holders","version":1}'] \
    + [r for r in raw_literals(os.path.join(decode_tests, "HolderTextTests.swift")) if r.startswith(b"{")]
write_all("holder-report-json", "test", holder_json)
write_dict("holder-report-json", string_keys(os.path.join(root, "Sources", "StoretraceDecode", "HolderReportJSON.swift"))
           + ["{", "}", "[", "]", "null", "true", "false", '":', "\\u0000"])

# syscall-record: SyscallRecordTests.mountFixture, byte by byte as the test spells it, and cuts of it.
src = read(decode_tests, "SyscallRecordTests.swift").decode()
body = re.search(r"static let mountFixture: \[UInt8\] = \[(.*?)\n    \]", src, re.S).group(1)
mount = bytes(int(h, 16) for h in re.findall(r"0x([0-9a-fA-F]{2})\b", re.sub(r"//[^\n]*", "", body)))
assert len(mount) == 180, len(mount)
write("syscall-record", "mount-fixture", mount)
write("syscall-record", "mount-fixture-header-only", mount[:176])
failed = bytearray(mount)
failed[56:64] = struct.pack("<q", -16)  # ret = -EBUSY
write("syscall-record", "mount-fixture-ebusy", bytes(failed))

# ftrace-page: pages (x86_64 header_page: u64 timestamp, u64 commit, data) holding
# the test's block_rq_error record, a function record, padding and a time extend.
block = struct.pack("<HBBiI", 2106, 1, 2, 4242, 0x00800000) + b"\0" * 4 + struct.pack("<QIiH", 123456, 8, -5, 0x4000) \
    + b"WS\0\0\0\0\0\0\0\0" + struct.pack("<HH", 48, 4) + b"sda\0"
function = struct.pack("<HBBi", 1, 0, 0, 77) + struct.pack("<QQ", 0xffffffff81000000, 0xffffffff81000100)
def event(delta, rec):
    rec = rec + b"\0" * (-len(rec) % 4)
    return struct.pack("<I", (delta << 5) | (len(rec) // 4)) + rec
data = event(10, block) + event(5, function) + struct.pack("<II", (3 << 5) | 30, 1) + event(1, function)
write("ftrace-page", "block-function", struct.pack("<QQ", 1_000_000, len(data)) + data)
write("ftrace-page", "missed-events", struct.pack("<QQ", 1_000_000, len(data) | (1 << 31)) + data)
write("ftrace-page", "empty", struct.pack("<QQ", 0, 0))
write_dict("ftrace-page", ["\x3a\x08\x00\x00", "\x01\x00", "\x1e\x00\x00\x00", "\x1d\x00\x00\x00", "\x1f\x00\x00\x00"])

# record-codecs: one payload of each codec.
write("record-codecs", "task", struct.pack("<ii", 4121, 4120) + b"mount")
write("record-codecs", "ksym", struct.pack("<Q", 0xffffffff81000000) + b"do_mount [kernel]")
write("record-codecs", "ftrace-format", b"block\0" + trace_texts[1])
write("record-codecs", "ftrace-data", struct.pack("<II", 3, 0) + block)
# struct st_claim_event: kind, size, dev 7:0, pid, tid, mntns, uid, ts_ns, holder, ret, comm (ClaimRecordTests).
write("record-codecs", "claim", struct.pack("<HHIIIIIQQq", 1, 64, 7 << 20, 812, 813, 4026531832, 0, 2000000000,
                                            0xffff888103c4e400, 0) + b"python3" + b"\0" * 9)
write("record-codecs", "holders", struct.pack("<QII", 1_000_000_000, 4120, 4121) + b"umount".ljust(16, b"\0")
      + b"umount".ljust(16, b"\0") + holder_json[0])
# paths: kubelet's volume paths (KubeletPathTests) and PCI devpaths.
pod = "7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
write_all("paths", "kubelet", [p.encode() for p in [
    f"/var/lib/kubelet/pods/{pod}/volumes/kubernetes.io~csi/pvc-12ab/mount",
    f"/var/lib/kubelet/pods/{pod}/volumeDevices/kubernetes.io~csi/pvc-77",
    "/var/lib/kubelet/plugins/kubernetes.io/csi/disk.csi.example.com/3f9a0c1e2d/globalmount",
    "/var/lib/kubelet/plugins/kubernetes.io/csi/pv/pvc-12ab/globalmount",
    "/var/lib/kubelet/plugins/kubernetes.io/csi/volumeDevices/staging/pvc-77",
    f"/var/lib/kubelet/plugins/kubernetes.io/csi/volumeDevices/publish/pvc-77/{pod}",
    f"/home/t4/kubernetes/lib/kubelet/plugins/kubernetes.io/csi/volumeDevices/pvc-77/dev/{pod}",
    "/devices/pci0000:00/0000:00:1d.0/0000:3b:00.0/nvme/nvme0/nvme0n1",
]])
write_dict("paths", ["/kubelet/", "pods/", "plugins/", "kubernetes.io/", "csi/", "volumes/", "volumeDevices/",
                     "kubernetes.io~csi", "globalmount", "staging/", "publish/", "/dev/", "/mount", "pv/", "0000:00:04.0"])
print("seeds written to", corpus)
