import StoretraceDecode

/// Text for `storetrace info`: the whole node snapshot (`--snapshot`) or a
/// short summary. Not a hot path, so it builds Strings.
///
/// Everything that came from the node (paths, comms, serials) goes through
/// `printable`: a mount point with a newline or an escape sequence must not
/// break the layout or drive the terminal. Table cells also escape spaces
/// and backslashes the way mountinfo does ("\040"), so columns stay columns.
public enum SnapshotRenderer {
    /// The whole snapshot: host header, mount tables per namespace, block
    /// devices, PCI storage functions and virtio devices.
    public static func render(_ snapshot: NodeSnapshot) -> String {
        var out = ""
        out += header(snapshot)

        for namespace in snapshot.mountNamespaces {
            out += "\n" + namespaceTitle(namespace) + "\n"
            if !namespace.isHost {
                // Who is in a pod's or unshare's namespace: what an inode
                // number alone cannot tell days later.
                let members = snapshot.processes.filter { $0.mountNamespace == namespace.inode }
                if !members.isEmpty { out += table(header: processColumns, rows: members.map(processRow)) }
            }
            guard let mounts = namespace.mounts else {
                out += "  (mount table unreadable: no process in it would give /proc/PID/mountinfo)\n"
                continue
            }
            out += table(header: mountColumns, rows: mounts.map(mountRow))
            if namespace.mountsOverLimit > 0 {
                out += "  (\(plural(namespace.mountsOverLimit, "more mount")) past the limit, not recorded)\n"
            }
            if namespace.malformedLines > 0 {
                out += "  (\(plural(namespace.malformedLines, "mountinfo line")) did not parse)\n"
            }
        }

        out += "\nBlock devices\n"
        if snapshot.blockDevices.isEmpty {
            out += "  (none)\n"
        } else {
            let rows = snapshot.blockDevices.map(blockDeviceRow)
            out += table(header: blockDeviceColumns, rows: rows)
        }

        out += "\nPCI storage functions\n"
        if snapshot.pciFunctions.isEmpty {
            out += "  (none)\n"
        } else {
            out += table(header: pciColumns, rows: snapshot.pciFunctions.map(pciRow))
        }

        if !snapshot.virtioDevices.isEmpty {
            out += "\nVirtio devices\n"
            let rows = snapshot.virtioDevices.map { device in
                [cell(device.name), device.deviceID.map(cell) ?? "-", device.driver.map(cell) ?? "(none)",
                 device.pciAddress.map(cell) ?? "-"]
            }
            out += table(header: ["NAME", "DEVICE", "DRIVER", "PCI"], rows: rows)
        }
        return out
    }

    // MARK: Rows
    // The cells of each table, escaped (`cell`): `info --snapshot` lays
    // them out as text, `storetrace report` as HTML tables.

    public static let processColumns = ["PID", "PPID", "UID", "COMM", "CGROUP"]

    public static func processRow(_ process: NodeSnapshot.ProcessEntry) -> [String] {
        [String(process.pid), process.ppid.map { String($0) } ?? "-", process.uid.map { String($0) } ?? "-",
         process.comm.map(cell) ?? "-", process.cgroup.map(cell) ?? "-"]
    }

    public static let mountColumns = ["MOUNT POINT", "SOURCE", "FSTYPE", "OPTIONS", "PROPAGATION"]

    public static func mountRow(_ mount: NodeSnapshot.Mount) -> [String] {
        [cell(mount.mountPoint), cell(mount.source), cell(mount.fstype), cell(mount.options),
         mount.optionalFields.isEmpty ? "private" : mount.optionalFields.map(cell).joined(separator: ",")]
    }

    public static let pciColumns = ["ADDRESS", "VENDOR", "DEVICE", "CLASS", "DRIVER", "DRIVER OVERRIDE"]

    public static func pciRow(_ function: NodeSnapshot.PCIFunction) -> [String] {
        [cell(function.address), function.vendor.map(cell) ?? "-", function.device.map(cell) ?? "-",
         function.pciClass.map(cell) ?? "-", function.driver.map(cell) ?? "(none)",
         function.driverOverride.map(cell) ?? ""]
    }

    public static let blockDeviceColumns = ["NAME", "MAJ:MIN", "SIZE", "RA_KB", "ROT", "SCHED", "SERIAL", "PCI", "PCI DRIVER", "BACKING FILE"]

    public static func blockDeviceRow(_ device: NodeSnapshot.BlockDevice) -> [String] {
        var number = "-"
        if let major = device.major, let minor = device.minor { number = "\(major):\(minor)" }
        var pciDriver = "-"
        if let driver = device.pciDriver {
            pciDriver = cell(driver)
        } else if device.pciAddress != nil {
            pciDriver = "(none)"
        }
        let name: String = (device.parent == nil ? "" : "  ") + cell(device.name)
        let size: String = device.sizeBytes.map(humanSize) ?? "-"
        let readAhead: String = device.readAheadKB.map { String($0) } ?? "-"
        let rotational: String = device.rotational.map { $0 ? "yes" : "no" } ?? "-"
        let scheduler: String = device.scheduler.map(cell) ?? "-"
        let serial: String = device.serial.map(cell) ?? "-"
        let address: String = device.pciAddress.map(cell) ?? "-"
        var backing: String = device.loopBackingFile.map(cell) ?? ""
        // What the health of its mounts hangs on: a backing file cut short,
        // a pending detach, ext4's own error count.
        if device.loopBackingFileShort == true, let fileSize = device.loopBackingFileSize {
            backing += " (file is \(humanSize(fileSize)), shorter than the device)"
        }
        if device.loopAutoclear == true { backing += " (detach pending: autoclear)" }
        if let errors = device.filesystemErrors, errors.errorsCount > 0 {
            backing += (backing.isEmpty ? "" : " ") + "ext4 errors: \(errors.errorsCount)"
                + (errors.lastErrorFunction.map { ", last in " + cell($0) } ?? "")
        }
        return [name, number, size, readAhead, rotational, scheduler, serial, address, pciDriver, backing]
    }

    /// A few lines for `storetrace info` without --snapshot.
    public static func summary(_ snapshot: NodeSnapshot) -> String {
        var host: [String] = []
        if let hostname = snapshot.hostname { host.append("host " + printable(hostname)) }
        if let kernel = snapshot.kernelRelease { host.append("Linux " + printable(kernel)) }
        if let cpus = snapshot.onlineCPUs { host.append(plural(cpus, "CPU")) }
        if let boot = snapshot.bootID { host.append("boot " + printable(boot)) }
        host.append("taken " + rfc3339(snapshot.takenAt.realtimeNanoseconds))
        let mountCount = snapshot.mountNamespaces.reduce(0) { $0 + ($1.mounts?.count ?? 0) }
        let unbound = snapshot.pciFunctions.filter { $0.driver == nil }.count
        var counts = [
            plural(snapshot.processes.count, "process", "processes"),
            plural(snapshot.mountNamespaces.count, "mount namespace"),
            plural(mountCount, "mount"),
            plural(snapshot.blockDevices.count, "block device"),
            plural(snapshot.pciFunctions.count, "PCI storage function") + (unbound > 0 ? " (\(unbound) unbound)" : ""),
        ]
        if !snapshot.virtioDevices.isEmpty { counts.append(plural(snapshot.virtioDevices.count, "virtio device")) }
        var out = "snapshot: " + host.joined(separator: ", ") + "\n"
        out += "  " + counts.joined(separator: ", ") + "\n"
        if let omitted = omissions(snapshot.omitted) { out += "  " + omitted + "\n" }
        return out
    }

    static func header(_ snapshot: NodeSnapshot) -> String {
        var lines: [(String, String)] = [
            ("host", snapshot.hostname.map(printable) ?? "-"),
            ("kernel", snapshot.kernelRelease.map(printable) ?? "-"),
            ("boot id", snapshot.bootID.map(printable) ?? "-"),
            ("CPUs", snapshot.onlineCPUs.map { String($0) } ?? "-"),
            ("taken at", rfc3339(snapshot.takenAt.realtimeNanoseconds)
                + " (monotonic " + seconds(snapshot.takenAt.monotonicNanoseconds) + ")"),
        ]
        let mountCount = snapshot.mountNamespaces.reduce(0) { $0 + ($1.mounts?.count ?? 0) }
        lines.append(("contents", [
            plural(snapshot.processes.count, "process", "processes"),
            plural(snapshot.mountNamespaces.count, "mount namespace"),
            plural(mountCount, "mount"),
            plural(snapshot.blockDevices.count, "block device"),
            plural(snapshot.pciFunctions.count, "PCI storage function"),
        ].joined(separator: ", ")))
        if let omitted = omissions(snapshot.omitted) { lines.append(("omitted", omitted)) }
        return lines.map { label, value in label.padding(to: 10) + value }.joined(separator: "\n") + "\n"
    }

    public static func namespaceTitle(_ namespace: NodeSnapshot.MountNamespace) -> String {
        var title = "Mount namespace mnt:\(namespace.inode)" + (namespace.isHost ? " (host)" : "")
        if let pid = namespace.ownerPID {
            title += "  owner \(pid)" + (namespace.ownerComm.map { " (" + printable($0) + ")" } ?? "")
        }
        title += "  " + plural(namespace.processCount, "process", "processes")
        if let mounts = namespace.mounts {
            title += "  " + plural(mounts.count, "mount")
            if let from = namespace.mountinfoPID, from != namespace.ownerPID {
                title += " (mountinfo of pid \(from))"
            }
        }
        return title
    }

    public static func omissions(_ omitted: NodeSnapshot.Omissions) -> String? {
        var parts: [String] = []
        if omitted.processesExited > 0 { parts.append(plural(omitted.processesExited, "process", "processes") + " exited during the scan") }
        if omitted.processesOverLimit > 0 { parts.append(plural(omitted.processesOverLimit, "process", "processes") + " past the limit") }
        if omitted.namespacesOverLimit > 0 { parts.append(plural(omitted.namespacesOverLimit, "mount namespace") + " past the limit") }
        if omitted.namespacesWithoutMounts > 0 {
            parts.append(plural(omitted.namespacesWithoutMounts, "mount namespace") + " without a readable mount table")
        }
        if omitted.kubeletVolumesOverLimit > 0 {
            parts.append(plural(omitted.kubeletVolumesOverLimit, "kubelet volume") + " past the limit (vol_data.json not read)")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    // MARK: Layout

    /// Widest a column is padded to: one long kubelet path must not push
    /// every other row of its table off the screen. Longer cells overflow.
    static let maxColumnWidth = 48

    /// Rows aligned under a header, indented two spaces; the last column is
    /// not padded and no line ends in spaces.
    static func table(header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (column, text) in row.enumerated() where column < widths.count {
                widths[column] = max(widths[column], min(text.count, maxColumnWidth))
            }
        }
        var out = ""
        for row in [header] + rows {
            var line = "  "
            for (column, text) in row.enumerated() {
                if column > 0 { line += "  " }
                line += column == row.count - 1 ? text : text.padding(to: widths[column])
            }
            while line.last == " " { line.removeLast() }
            out += line + "\n"
        }
        return out
    }

    /// A table cell: `printable` plus spaces and backslashes escaped.
    static func cell(_ text: String) -> String {
        printable(text, escapingSpaces: true)
    }

    /// Text safe to print, by the one terminal escaper
    /// (`OutputBuffer.appendPrintable`): control characters (C0, DEL, C1),
    /// and backslashes, become octal escapes of their UTF-8 bytes, like
    /// mountinfo's "\012".
    public static func printable(_ text: String) -> String {
        printable(text, escapingSpaces: false)
    }

    static func printable(_ text: String, escapingSpaces: Bool) -> String {
        var out = OutputBuffer(capacity: text.utf8.count + 16)
        out.appendPrintable(string: text, spelling: .octal, escapingSpaces: escapingSpaces)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// Binary units with one decimal: "512 B", "1.5 KiB", "256.0 GiB".
    public static func humanSize(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        guard bytes >= 1024 else { return "\(bytes) B" }
        var exponent = 0
        while exponent < units.count - 1, bytes >> (10 * UInt64(exponent + 1)) > 0 { exponent += 1 }
        let unit: UInt64 = 1 << (10 * UInt64(exponent))
        var whole = bytes / unit
        var tenth = (bytes % unit * 10 + unit / 2) / unit
        if tenth == 10 {
            whole += 1
            tenth = 0
        }
        return "\(whole).\(tenth) \(units[exponent])"
    }

    /// "2026-11-23T14:07:31.123456789Z".
    static func rfc3339(_ epochNanoseconds: Int64) -> String {
        TimeText.rfc3339(epochNanoseconds: epochNanoseconds)
    }

    /// "12.345678901 s" for a nanosecond count.
    static func seconds(_ nanoseconds: Int64) -> String {
        let sign = nanoseconds < 0 ? "-" : ""
        let magnitude = nanoseconds.magnitude
        return sign + "\(magnitude / 1_000_000_000)." + zeroPadded(Int(magnitude % 1_000_000_000), 9) + " s"
    }

    static func zeroPadded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    public static func plural(_ count: Int, _ singular: String, _ pluralForm: String? = nil) -> String {
        "\(count) " + (count == 1 ? singular : pluralForm ?? singular + "s")
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
