import StoretraceDecode

/// A block-device claim on the columns of a syscall line (no latency: the
/// record is the claim's return):
///
///     14:07:31.123456  python3[812]           mnt:4026531832             claim(7:0, holder=0xffff888103c4e400) = 0
///     14:07:31.223456  mount[815]             mnt:4026531832             claim(7:0, holder=0xffffffff83a1b2c0) = -1 EBUSY
extension TextRenderer {
    public func renderClaim(_ record: ClaimRecord, into out: inout OutputBuffer) {
        appendColumns(monotonic: record.timestamp, comm: record.comm, pid: record.pid,
                      mountNamespace: record.mountNamespace, latency: nil, into: &out)
        paint(.bold, into: &out)
        out.append("claim")
        paint(.reset, into: &out)
        out.append(UInt8(ascii: "("))
        out.appendDecimal(record.major)
        out.append(UInt8(ascii: ":"))
        out.appendDecimal(record.minor)
        out.append(", holder=")
        out.appendHex(record.holder)
        out.append(") = ")
        appendOutcome(errno: record.errno, returnValue: record.returnValue, into: &out)
        out.append(UInt8(ascii: "\n"))
    }
}

extension JSONRenderer {
    /// `claim` (docs/events.md): who claimed which device, and the kernel's answer.
    public func renderClaim(_ record: ClaimRecord, into out: inout OutputBuffer) {
        appendTaskHead(type: "claim", timestamp: record.timestamp, pid: record.pid, tid: record.tid,
                       comm: record.comm, uid: record.uid, mountNamespace: record.mountNamespace, into: &out)
        out.append(",\"ret\":")
        out.appendDecimal(record.returnValue)
        out.append(",\"errno\":")
        appendErrno(record.errno, into: &out)
        out.append(",\"dev\":\"")
        out.appendDecimal(record.major)
        out.append(UInt8(ascii: ":"))
        out.appendDecimal(record.minor)
        out.append("\",\"holder\":\"")
        out.appendHex(record.holder)
        out.append("\"}\n")
    }
}
