import StoretraceDecode

/// The line under an event that names a block device, and the JSON object
/// that says the same, for every device of a `DeviceTable`. Rendered (and
/// escaped) once per table, when it changes; per event a lookup and a copy.
///
///     14:07:31.125000  [kmsg]             <3>err EXT4-fs error (device loop0): __ext4_find_entry:1613: ...
///       ↳ loop0 (7:0) mounted at /mnt/x in host, /var/lib/x in mnt:4026532178 (sleep[812])
public struct DeviceAnnotations: Sendable {
    public let table: DeviceTable
    /// "loop0 (7:0) mounted at ...", without the indent and newline.
    private let text: [[UInt8]]
    /// `{"name":"loop0","major":7,"minor":0,...,"mounts":[...]}` without the closing brace.
    private let json: [[UInt8]]

    public static let empty = DeviceAnnotations(.empty)

    public init(_ table: DeviceTable) {
        self.table = table
        var text: [[UInt8]] = []
        var json: [[UInt8]] = []
        for device in table.devices {
            text.append(Self.renderText(device))
            json.append(Self.renderJSON(device))
        }
        self.text = text
        self.json = json
    }

    /// "host", or "mnt:4026532178 (sleep[812])".
    public static func namespaceName(_ mount: DeviceTable.Mount) -> String { mount.namespaceName }

    static func renderText(_ device: DeviceTable.Device) -> [UInt8] {
        var out = OutputBuffer(capacity: 128)
        out.appendPrintable(string: device.name)
        out.append(" (")
        out.appendDecimal(device.major)
        out.append(UInt8(ascii: ":"))
        out.appendDecimal(device.minor)
        if device.info.gone == true { out.append(", gone from /sys/block") }
        out.append(")")
        if device.mounts.isEmpty {
            out.append(" with no mount in the device table")
        } else {
            out.append(" mounted at ")
            for (index, mount) in device.mounts.enumerated() {
                if index > 0 { out.append(", ") }
                out.appendPrintable(string: mount.mountPoint)
                if let partition = mount.partition {
                    out.append(" (")
                    out.appendPrintable(string: partition)
                    out.append(")")
                }
                out.append(" in ")
                out.appendPrintable(string: namespaceName(mount))
            }
        }
        if device.info.loopBackingFileShort == true, let file = device.info.loopBackingFile,
           let fileSize = device.info.loopBackingFileSize, let size = device.info.sizeBytes {
            out.append("; its backing file ")
            out.appendPrintable(string: file)
            out.append(" has ")
            out.appendDecimal(fileSize)
            out.append(" bytes, the device claims ")
            out.appendDecimal((device.info.loopOffset ?? 0) &+ size)
        }
        return out.bytes
    }

    static func renderJSON(_ device: DeviceTable.Device) -> [UInt8] {
        var out = OutputBuffer(capacity: 256)
        out.append("{\"name\":")
        out.appendJSONString(string: device.name)
        out.append(",\"major\":")
        out.appendDecimal(device.major)
        out.append(",\"minor\":")
        out.appendDecimal(device.minor)
        out.append(",\"known\":true,\"gone\":")
        out.append(device.info.gone == true ? "true" : "false")
        out.append(",\"loop_backing_file\":")
        if let file = device.info.loopBackingFile { out.appendJSONString(string: file) } else { out.append("null") }
        out.append(",\"loop_backing_file_short\":")
        if let short = device.info.loopBackingFileShort { out.append(short ? "true" : "false") } else { out.append("null") }
        out.append(",\"mounts\":[")
        for (index, mount) in device.mounts.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendMountJSON(mount, into: &out)
        }
        out.append("]")
        return out.bytes
    }

    /// `{"mount_point":"/mnt/x","mntns":4026531832,"host":true,"mount_id":45,"fstype":"ext4","partition":null}`
    public static func appendMountJSON(_ mount: DeviceTable.Mount, into out: inout OutputBuffer) {
        out.append("{\"mount_point\":")
        out.appendJSONString(string: mount.mountPoint)
        out.append(",\"mntns\":")
        out.appendDecimal(mount.namespace)
        out.append(",\"host\":")
        out.append(mount.isHost ? "true" : "false")
        out.append(",\"mount_id\":")
        out.appendDecimal(mount.mountID)
        out.append(",\"fstype\":")
        out.appendJSONString(string: mount.fstype)
        out.append(",\"partition\":")
        if let partition = mount.partition { out.appendJSONString(string: partition) } else { out.append("null") }
        out.append("}")
    }

    /// "  ↳ loop0 (7:0) mounted at ...\n" for a known device; for a name
    /// the table does not know, that it is not a block device here now.
    func appendTextLine(_ index: Int?, name: UnsafeRawBufferPointer, into out: inout OutputBuffer) {
        out.append("  ↳ ")
        if let index {
            text[index].withUnsafeBytes { out.append(bytes: $0) }
        } else {
            out.appendPrintable(name)
            out.append(": no block device of that name in the device table")
        }
        out.append(UInt8(ascii: "\n"))
    }

    /// The object, with what the log line said (`pattern`, `problem`) when it
    /// came from one; for an unknown name the name alone, "known":false.
    func appendJSONObject(_ index: Int?, name: UnsafeRawBufferPointer, mention: KmsgDeviceMention?,
                          into out: inout OutputBuffer) {
        if let index {
            json[index].withUnsafeBytes { out.append(bytes: $0) }
        } else {
            out.append("{\"name\":")
            out.appendJSONString(name)
            out.append(",\"major\":null,\"minor\":null,\"known\":false,\"gone\":null,\"loop_backing_file\":null,\"loop_backing_file_short\":null,\"mounts\":[]")
        }
        if let mention {
            out.append(",\"pattern\":\"")
            out.append(KmsgDevicePatterns.table[mention.pattern].id)
            out.append("\",\"problem\":")
            if let problem = mention.problem { out.append("\""); out.append(string: problem.name); out.append("\"") } else { out.append("null") }
        }
        out.append(UInt8(ascii: "}"))
    }
}
