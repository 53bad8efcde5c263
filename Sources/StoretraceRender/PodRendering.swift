import StoretraceDecode

// The pod and container of a syscall's process (`PodCgroup`), in both
// formats: one home, beside the kubelet path suffix (`k8s`) each renderer
// has. `k8s` says what a path names; `pod` says who made the call.

extension JSONRenderer {
    /// `,"pod":{"uid":"...","qos":"besteffort","container_id":"...","runtime":"containerd"}`;
    /// `container_id` and `runtime` null where the cgroup does not say.
    func appendPod(_ pod: PodCgroup, into out: inout OutputBuffer) {
        out.append(",\"pod\":{\"uid\":")
        pod.podUID.withUnsafeBytes { out.appendJSONString($0) }
        out.append(",\"qos\":\"")
        out.append(pod.qos.name)
        out.append("\",\"container_id\":")
        if let id = pod.containerID { id.withUnsafeBytes { out.appendJSONString($0) } } else { out.append("null") }
        out.append(",\"runtime\":")
        if let runtime = pod.runtime {
            out.append(UInt8(ascii: "\""))
            out.append(runtime.name)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append("null")
        }
        out.append(UInt8(ascii: "}"))
    }
}

extension TextRenderer {
    /// ` [by pod 7f3e1c2a… ctr 0123456789ab besteffort]`: the pod UID cut to
    /// 8 characters and the container id to 12, as `crictl ps` shows it
    /// (JSON has both whole).
    public func appendPod(_ pod: PodCgroup, into out: inout OutputBuffer) {
        paint(.dim, into: &out)
        out.append(" [by pod ")
        pod.podUID.withUnsafeBytes { uid in
            out.appendPrintable(UnsafeRawBufferPointer(rebasing: uid.prefix(8)))
            if uid.count > 8 { out.append("…") }
        }
        if let id = pod.containerID {
            out.append(" ctr ")
            id.withUnsafeBytes { out.appendPrintable(UnsafeRawBufferPointer(rebasing: $0.prefix(12))) }
        }
        out.append(UInt8(ascii: " "))
        out.append(pod.qos.name)
        out.append(UInt8(ascii: "]"))
        paint(.reset, into: &out)
    }
}
