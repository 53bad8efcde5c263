// The JSON form of a node snapshot (keys documented in docs/snapshot.md).
// Keys are snake_case and stable; absent values are left out rather than
// written as null. The reader ignores keys it does not know (a newer
// storetrace may add some) and accepts null for any optional value, but a
// value of the wrong type is an error naming its path: it means the document
// is not what it claims to be.

/// The storetrace JSON documents read with `ObjectReader`.
public enum JSONDocument: Sendable, Equatable {
    case nodeSnapshot, holderReport

    /// How messages name it.
    var name: String {
        switch self {
        case .nodeSnapshot: "snapshot"
        case .holderReport: "holder report"
        }
    }

    var title: String {
        switch self {
        case .nodeSnapshot: "storetrace node snapshot"
        case .holderReport: "storetrace holder report"
        }
    }

    var newestReadableVersion: Int {
        switch self {
        case .nodeSnapshot: NodeSnapshot.version
        case .holderReport: HolderReport.version
        }
    }
}

/// Why a storetrace JSON document could not be read: one error for every
/// document, each case naming which.
public enum JSONDocumentError: Error, Equatable, Sendable, CustomStringConvertible {
    case json(JSONDocument, JSONParseError)
    /// The text is JSON but its "format" is not this document's.
    case notA(JSONDocument, format: String?)
    /// Written by a storetrace whose version of the document this one cannot read.
    case unsupportedVersion(JSONDocument, Int)
    case missingKey(JSONDocument, path: String)
    case wrongType(JSONDocument, path: String, expected: String)

    public var description: String {
        switch self {
        case .json(let document, let error): return "\(document.name): \(error)"
        case .notA(let document, let format):
            return "not a \(document.title) (format \(format.map { "\"\($0)\"" } ?? "missing"))"
        case .unsupportedVersion(let document, let version):
            return "\(document.name) version \(version) is newer than this storetrace reads "
                + "(\(document.newestReadableVersion)); upgrade storetrace"
        case .missingKey(let document, let path): return "\(document.name): missing \(path)"
        case .wrongType(let document, let path, let expected): return "\(document.name): \(path) is not \(expected)"
        }
    }
}

// MARK: - Encoding

extension NodeSnapshot {
    /// The snapshot as JSON text. `.lines` puts one process, mount or device
    /// per line (for people and grep); `.compact` is one line.
    public func jsonText(_ layout: JSONValue.Layout = .lines) -> String {
        jsonValue.serialized(layout)
    }

    public var jsonValue: JSONValue {
        var top = MemberList()
        top.add("format", .string(Self.format))
        top.add("version", .integer(Self.version))
        top.add("taken_at", .object([
            .init("monotonic_ns", .integer(takenAt.monotonicNanoseconds)),
            .init("realtime_ns", .integer(takenAt.realtimeNanoseconds)),
        ]))
        var offsets = MemberList()
        offsets.add("realtime_minus_monotonic_ns", .integer(clockOffsets.realtimeMinusMonotonic))
        offsets.add("boottime_minus_monotonic_ns", clockOffsets.boottimeMinusMonotonic)
        top.add("clock_offsets", .object(offsets.members))
        top.add("kernel_release", kernelRelease)
        top.add("hostname", hostname)
        top.add("boot_id", bootID)
        top.add("online_cpus", onlineCPUs)
        if let clockSync {
            var sync = MemberList()
            sync.add("synchronized", .bool(clockSync.synchronized))
            sync.add("max_error_us", clockSync.maxErrorMicroseconds)
            sync.add("est_error_us", clockSync.estimatedErrorMicroseconds)
            top.add("clock_sync", .object(sync.members))
        }
        if let kubeletVolumes {
            top.add("kubelet_volumes", .array(kubeletVolumes.map { volume -> JSONValue in
                var members = MemberList()
                members.add("dir", .string(volume.directory))
                members.add("driver", volume.driver)
                members.add("volume_handle", volume.volumeHandle)
                members.add("spec_name", volume.specName)
                return .object(members.members)
            }))
        }
        top.add("processes", .array(processes.map(\.jsonValue)))
        // Version 2: each distinct mount line once, and each namespace's
        // table as [mount_id, parent_id, line] (docs/snapshot.md). Pod
        // namespaces are near-copies of each other: 2,000 of them cost
        // little more than one.
        var pool = MountLinePool()
        let namespaces = mountNamespaces.map { $0.jsonValue(pool: &pool) }
        top.add("mount_lines", .array(pool.lines.map(\.jsonValue)))
        top.add("mount_namespaces", .array(namespaces))
        top.add("block_devices", .array(blockDevices.map(\.jsonValue)))
        top.add("pci_functions", .array(pciFunctions.map(\.jsonValue)))
        top.add("virtio_devices", .array(virtioDevices.map(\.jsonValue)))
        var omissions = MemberList()
        omissions.add("processes_exited", .integer(omitted.processesExited))
        omissions.add("processes_over_limit", .integer(omitted.processesOverLimit))
        omissions.add("namespaces_over_limit", .integer(omitted.namespacesOverLimit))
        omissions.add("namespaces_without_mounts", .integer(omitted.namespacesWithoutMounts))
        if omitted.kubeletVolumesOverLimit > 0 {
            omissions.add("kubelet_volumes_over_limit", .integer(omitted.kubeletVolumesOverLimit))
        }
        top.add("omitted", .object(omissions.members))
        return .object(top.members)
    }
}

extension NodeSnapshot.ProcessEntry {
    var jsonValue: JSONValue {
        var list = MemberList()
        list.add("pid", .integer(pid))
        list.add("ppid", ppid)
        list.add("comm", comm)
        list.add("uid", uid)
        list.add("mntns", mountNamespace)
        list.add("cgroup", cgroup)
        if let cgroupV1 { list.add("cgroup_v1", .array(cgroupV1.map { .string($0) })) }
        list.add("kernel_thread", kernelThread)
        return .object(list.members)
    }
}

extension NodeSnapshot.MountNamespace {
    fileprivate func jsonValue(pool: inout MountLinePool) -> JSONValue {
        var list = MemberList()
        list.add("mntns", .integer(inode))
        if isHost { list.add("host", .bool(true)) }
        list.add("process_count", .integer(processCount))
        list.add("owner_pid", ownerPID)
        list.add("owner_comm", ownerComm)
        list.add("mountinfo_pid", mountinfoPID)
        if mountsOverLimit != 0 { list.add("mounts_over_limit", .integer(mountsOverLimit)) }
        if malformedLines != 0 { list.add("malformed_lines", .integer(malformedLines)) }
        if let mounts {
            list.add("mounts", .array(mounts.map { mount in
                .array([.integer(mount.mountID), .integer(mount.parentID), .integer(pool.index(of: mount.line))])
            }))
        }
        return .object(list.members)
    }
}

extension NodeSnapshot.Mount.Line {
    fileprivate convenience init(reading entry: ObjectReader) throws(JSONDocumentError) {
        self.init(NodeSnapshot.Mount.Fields(
            major: try entry.required("major", { $0.integer() }, "a device major"),
            minor: try entry.required("minor", { $0.integer() }, "a device minor"),
            root: try entry.required("root", \.stringValue, "a string"),
            mountPoint: try entry.required("mount_point", \.stringValue, "a string"),
            options: try entry.optional("options", \.stringValue, "a string") ?? "",
            optionalFields: try entry.optionalStrings("optional_fields") ?? [],
            fstype: try entry.required("fstype", \.stringValue, "a string"),
            source: try entry.optional("source", \.stringValue, "a string") ?? "",
            superOptions: try entry.optional("super_options", \.stringValue, "a string") ?? ""))
    }

    fileprivate var jsonValue: JSONValue {
        .object([
            .init("major", .integer(fields.major)),
            .init("minor", .integer(fields.minor)),
            .init("root", .string(fields.root)),
            .init("mount_point", .string(fields.mountPoint)),
            .init("options", .string(fields.options)),
            .init("optional_fields", .array(fields.optionalFields.map { .string($0) })),
            .init("fstype", .string(fields.fstype)),
            .init("source", .string(fields.source)),
            .init("super_options", .string(fields.superOptions)),
        ])
    }
}

/// The distinct mount lines of a snapshot, numbered in first-seen order.
private struct MountLinePool {
    var lines: [NodeSnapshot.Mount.Line] = []
    var indices: [NodeSnapshot.Mount.Line: Int] = [:]

    mutating func index(of line: NodeSnapshot.Mount.Line) -> Int {
        if let known = indices[line] { return known }
        lines.append(line)
        indices[line] = lines.count - 1
        return lines.count - 1
    }
}

extension NodeSnapshot.BlockDevice {
    var jsonValue: JSONValue {
        var list = MemberList()
        list.add("name", .string(name))
        list.add("parent", parent)
        list.add("partition", partitionNumber)
        list.add("major", major)
        list.add("minor", minor)
        list.add("size_bytes", sizeBytes)
        list.add("read_ahead_kb", readAheadKB)
        list.add("rotational", rotational)
        list.add("scheduler", scheduler)
        list.add("serial", serial)
        list.add("loop_backing_file", loopBackingFile)
        list.add("pci_address", pciAddress)
        list.add("pci_driver", pciDriver)
        list.add("driver", driver)
        list.add("read_only", readOnly)
        list.add("loop_offset", loopOffset)
        list.add("loop_backing_file_size", loopBackingFileSize)
        list.add("loop_autoclear", loopAutoclear)
        list.add("gone", gone)
        if let errors = filesystemErrors {
            var fields = MemberList()
            fields.add("errors_count", errors.errorsCount)
            fields.add("first_error_time", errors.firstErrorTime)
            fields.add("first_error_func", errors.firstErrorFunction)
            fields.add("last_error_time", errors.lastErrorTime)
            fields.add("last_error_func", errors.lastErrorFunction)
            list.add("fs_errors", .object(fields.members))
        }
        return .object(list.members)
    }
}

extension NodeSnapshot.FilesystemErrors {
    init(reading entry: ObjectReader) throws(JSONDocumentError) {
        self.init(errorsCount: try entry.required("errors_count", { $0.integer() }, "a count"),
                  firstErrorTime: try entry.optional("first_error_time", { $0.integer() }, "seconds"),
                  firstErrorFunction: try entry.optional("first_error_func", \.stringValue, "a string"),
                  lastErrorTime: try entry.optional("last_error_time", { $0.integer() }, "seconds"),
                  lastErrorFunction: try entry.optional("last_error_func", \.stringValue, "a string"))
    }
}

extension NodeSnapshot.PCIFunction {
    var jsonValue: JSONValue {
        var list = MemberList()
        list.add("address", .string(address))
        list.add("vendor", vendor)
        list.add("device", device)
        list.add("class", pciClass)
        list.add("driver", driver)
        list.add("driver_override", driverOverride)
        return .object(list.members)
    }
}

extension NodeSnapshot.VirtioDevice {
    var jsonValue: JSONValue {
        var list = MemberList()
        list.add("name", .string(name))
        list.add("device_id", deviceID)
        list.add("driver", driver)
        list.add("pci_address", pciAddress)
        return .object(list.members)
    }
}

/// Builds an object's members, leaving out absent optionals.
struct MemberList {
    var members: [JSONValue.Member] = []

    mutating func add(_ key: String, _ value: JSONValue) {
        members.append(.init(key, value))
    }

    mutating func add(_ key: String, _ value: String?) {
        if let value { members.append(.init(key, .string(value))) }
    }

    mutating func add<T: BinaryInteger>(_ key: String, _ value: T?) {
        if let value { members.append(.init(key, .integer(value))) }
    }

    mutating func add(_ key: String, _ value: Bool?) {
        if let value { members.append(.init(key, .bool(value))) }
    }
}

// MARK: - Decoding

extension NodeSnapshot {
    /// Reads a snapshot from its JSON text. Throws, never traps, on any
    /// input; `limits` bound what a hostile document can make it allocate.
    public init(json bytes: [UInt8], limits: JSONLimits = JSONLimits()) throws(JSONDocumentError) {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes, limits: limits)
        } catch {
            throw .json(.nodeSnapshot, error)
        }
        try self.init(jsonValue: value)
    }

    public init(json text: String, limits: JSONLimits = JSONLimits()) throws(JSONDocumentError) {
        try self.init(json: Array(text.utf8), limits: limits)
    }

    public init(jsonValue value: JSONValue) throws(JSONDocumentError) {
        guard case .object = value else { throw .wrongType(.nodeSnapshot, path: "(document)", expected: "an object") }
        let top = ObjectReader(document: .nodeSnapshot, value: value, path: "")
        let format = try top.optional("format", \.stringValue, "a string")
        guard format == Self.format else { throw .notA(.nodeSnapshot, format: format) }
        let version: Int = try top.required("version", { $0.integer() }, "an integer")
        guard version >= 1, version <= Self.version else { throw .unsupportedVersion(.nodeSnapshot, version) }

        let taken = try top.object("taken_at")
        takenAt = TakenAt(
            monotonicNanoseconds: try taken.required("monotonic_ns", { $0.integer() }, "an integer"),
            realtimeNanoseconds: try taken.required("realtime_ns", { $0.integer() }, "an integer"))
        let offsets = try top.object("clock_offsets")
        clockOffsets = ClockOffsets(
            realtimeMinusMonotonic: try offsets.required("realtime_minus_monotonic_ns", { $0.integer() }, "an integer"),
            boottimeMinusMonotonic: try offsets.optional("boottime_minus_monotonic_ns", { $0.integer() }, "an integer"))
        kernelRelease = try top.optional("kernel_release", \.stringValue, "a string")
        hostname = try top.optional("hostname", \.stringValue, "a string")
        bootID = try top.optional("boot_id", \.stringValue, "a string")
        onlineCPUs = try top.optional("online_cpus", { $0.integer() }, "an integer")
        if top.has("clock_sync") {
            let sync = try top.object("clock_sync")
            clockSync = ClockSync(
                synchronized: try sync.required("synchronized", \.boolValue, "a boolean"),
                maxErrorMicroseconds: try sync.optional("max_error_us", { $0.integer() }, "an integer"),
                estimatedErrorMicroseconds: try sync.optional("est_error_us", { $0.integer() }, "an integer"))
        }
        if top.has("kubelet_volumes") {
            kubeletVolumes = try top.array("kubelet_volumes") { (entry) throws(JSONDocumentError) in
                KubeletVolume(directory: try entry.required("dir", \.stringValue, "a string"),
                              driver: try entry.optional("driver", \.stringValue, "a string"),
                              volumeHandle: try entry.optional("volume_handle", \.stringValue, "a string"),
                              specName: try entry.optional("spec_name", \.stringValue, "a string"))
            }
        }

        processes = try top.array("processes") { (entry) throws(JSONDocumentError) in
            ProcessEntry(
                pid: try entry.required("pid", { $0.integer() }, "a pid"),
                ppid: try entry.optional("ppid", { $0.integer() }, "a pid"),
                comm: try entry.optional("comm", \.stringValue, "a string"),
                uid: try entry.optional("uid", { $0.integer() }, "a uid"),
                mountNamespace: try entry.optional("mntns", { $0.integer() }, "an inode number"),
                cgroup: try entry.optional("cgroup", \.stringValue, "a string"),
                cgroupV1: try entry.optionalStrings("cgroup_v1"),
                kernelThread: try entry.optional("kernel_thread", \.boolValue, "a boolean"))
        }
        let mountLines = version >= 2 ? try top.array("mount_lines", NodeSnapshot.Mount.Line.init(reading:)) : []
        mountNamespaces = try top.array("mount_namespaces") { (entry) throws(JSONDocumentError) in
            let inode: UInt64 = try entry.required("mntns", { $0.integer() }, "an inode number")
            let mounts: [Mount]? = switch (entry.has("mounts"), version) {
            case (false, _): nil
            case (true, 1): try entry.array("mounts", Mount.init(reading:))
            case (true, _): try entry.mountReferences("mounts", lines: mountLines)
            }
            return MountNamespace(
                inode: inode,
                processCount: try entry.optional("process_count", { $0.integer() }, "a count") ?? 0,
                ownerPID: try entry.optional("owner_pid", { $0.integer() }, "a pid"),
                ownerComm: try entry.optional("owner_comm", \.stringValue, "a string"),
                mountinfoPID: try entry.optional("mountinfo_pid", { $0.integer() }, "a pid"),
                mounts: mounts,
                mountsOverLimit: try entry.optional("mounts_over_limit", { $0.integer() }, "a count") ?? 0,
                malformedLines: try entry.optional("malformed_lines", { $0.integer() }, "a count") ?? 0,
                // Snapshots before the key: the initial namespace by its fixed inode.
                isHost: try entry.optional("host", \.boolValue, "a boolean") ?? (inode == initialMountNamespaceInode))
        }
        blockDevices = try top.array("block_devices") { (entry) throws(JSONDocumentError) in
            BlockDevice(
                name: try entry.required("name", \.stringValue, "a string"),
                parent: try entry.optional("parent", \.stringValue, "a string"),
                partitionNumber: try entry.optional("partition", { $0.integer() }, "an integer"),
                major: try entry.optional("major", { $0.integer() }, "a device major"),
                minor: try entry.optional("minor", { $0.integer() }, "a device minor"),
                sizeBytes: try entry.optional("size_bytes", { $0.integer() }, "a size"),
                readAheadKB: try entry.optional("read_ahead_kb", { $0.integer() }, "a size"),
                rotational: try entry.optional("rotational", \.boolValue, "a boolean"),
                scheduler: try entry.optional("scheduler", \.stringValue, "a string"),
                serial: try entry.optional("serial", \.stringValue, "a string"),
                loopBackingFile: try entry.optional("loop_backing_file", \.stringValue, "a string"),
                pciAddress: try entry.optional("pci_address", \.stringValue, "a string"),
                pciDriver: try entry.optional("pci_driver", \.stringValue, "a string"),
                driver: try entry.optional("driver", \.stringValue, "a string"),
                readOnly: try entry.optional("read_only", \.boolValue, "a boolean"),
                loopOffset: try entry.optional("loop_offset", { $0.integer() }, "an offset"),
                loopBackingFileSize: try entry.optional("loop_backing_file_size", { $0.integer() }, "a size"),
                loopAutoclear: try entry.optional("loop_autoclear", \.boolValue, "a boolean"),
                filesystemErrors: entry.has("fs_errors") ? try FilesystemErrors(reading: try entry.object("fs_errors")) : nil,
                gone: try entry.optional("gone", \.boolValue, "a boolean"))
        }
        pciFunctions = try top.array("pci_functions") { (entry) throws(JSONDocumentError) in
            PCIFunction(
                address: try entry.required("address", \.stringValue, "a string"),
                vendor: try entry.optional("vendor", \.stringValue, "a string"),
                device: try entry.optional("device", \.stringValue, "a string"),
                pciClass: try entry.optional("class", \.stringValue, "a string"),
                driver: try entry.optional("driver", \.stringValue, "a string"),
                driverOverride: try entry.optional("driver_override", \.stringValue, "a string"))
        }
        virtioDevices = try top.array("virtio_devices") { (entry) throws(JSONDocumentError) in
            VirtioDevice(
                name: try entry.required("name", \.stringValue, "a string"),
                deviceID: try entry.optional("device_id", \.stringValue, "a string"),
                driver: try entry.optional("driver", \.stringValue, "a string"),
                pciAddress: try entry.optional("pci_address", \.stringValue, "a string"))
        }
        if top.has("omitted") {
            let counts = try top.object("omitted")
            omitted = Omissions(
                processesExited: try counts.optional("processes_exited", { $0.integer() }, "a count") ?? 0,
                processesOverLimit: try counts.optional("processes_over_limit", { $0.integer() }, "a count") ?? 0,
                namespacesOverLimit: try counts.optional("namespaces_over_limit", { $0.integer() }, "a count") ?? 0,
                namespacesWithoutMounts: try counts.optional("namespaces_without_mounts", { $0.integer() }, "a count") ?? 0)
            omitted.kubeletVolumesOverLimit = try counts.optional("kubelet_volumes_over_limit", { $0.integer() }, "a count") ?? 0
        } else {
            omitted = Omissions()
        }
    }
}

extension NodeSnapshot.Mount {
    /// A version-1 mount: the ids and a mount line's keys in one object.
    fileprivate init(reading entry: ObjectReader) throws(JSONDocumentError) {
        self.init(mountID: try entry.required("mount_id", { $0.integer() }, "an integer"),
                  parentID: try entry.required("parent_id", { $0.integer() }, "an integer"),
                  line: try Line(reading: entry))
    }
}

/// Typed access to one JSON object with the path of every value, so an
/// error says where ("block_devices[3].size_bytes is not a size").
struct ObjectReader {
    /// Which document is read: its errors say so.
    let document: JSONDocument
    let value: JSONValue
    let path: String

    /// A version-2 mount table: [mount_id, parent_id, line] for each mount,
    /// `line` an index into the snapshot's `mount_lines`.
    fileprivate func mountReferences(_ key: String, lines: [NodeSnapshot.Mount.Line]) throws(JSONDocumentError) -> [NodeSnapshot.Mount] {
        guard let elements = value[key]?.arrayValue else { throw .wrongType(document, path: keyPath(key), expected: "an array") }
        var mounts: [NodeSnapshot.Mount] = []
        mounts.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard let triple = element.arrayValue, triple.count == 3,
                  let id: Int = triple[0].integer(), let parent: Int = triple[1].integer(), let line: Int = triple[2].integer(),
                  lines.indices.contains(line)
            else { throw .wrongType(document, path: keyPath(key) + "[\(index)]", expected: "[mount_id, parent_id, line in mount_lines]") }
            mounts.append(NodeSnapshot.Mount(mountID: id, parentID: parent, line: lines[line]))
        }
        return mounts
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    func has(_ key: String) -> Bool {
        if let found = value[key], found != .null { return true }
        return false
    }

    func required<T>(_ key: String, _ convert: (JSONValue) -> T?, _ expected: String) throws(JSONDocumentError) -> T {
        guard let found = value[key], found != .null else { throw .missingKey(document, path: keyPath(key)) }
        guard let converted = convert(found) else { throw .wrongType(document, path: keyPath(key), expected: expected) }
        return converted
    }

    /// Missing or null is nil; present but of the wrong type is an error.
    func optional<T>(_ key: String, _ convert: (JSONValue) -> T?, _ expected: String) throws(JSONDocumentError) -> T? {
        guard let found = value[key], found != .null else { return nil }
        guard let converted = convert(found) else { throw .wrongType(document, path: keyPath(key), expected: expected) }
        return converted
    }

    func optionalStrings(_ key: String) throws(JSONDocumentError) -> [String]? {
        guard let found = value[key], found != .null else { return nil }
        guard let elements = found.arrayValue else { throw .wrongType(document, path: keyPath(key), expected: "an array of strings") }
        var strings: [String] = []
        strings.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard let text = element.stringValue else {
                throw .wrongType(document, path: keyPath(key) + "[\(index)]", expected: "a string")
            }
            strings.append(text)
        }
        return strings
    }

    func object(_ key: String) throws(JSONDocumentError) -> ObjectReader {
        guard let found = value[key], found != .null else { throw .missingKey(document, path: keyPath(key)) }
        guard case .object = found else { throw .wrongType(document, path: keyPath(key), expected: "an object") }
        return ObjectReader(document: document, value: found, path: keyPath(key))
    }

    /// A missing array is empty: a snapshot from a reader that could not
    /// list, say, PCI devices simply has none.
    func array<T>(_ key: String, _ element: (ObjectReader) throws(JSONDocumentError) -> T) throws(JSONDocumentError) -> [T] {
        guard let found = value[key], found != .null else { return [] }
        guard let elements = found.arrayValue else { throw .wrongType(document, path: keyPath(key), expected: "an array") }
        var result: [T] = []
        result.reserveCapacity(elements.count)
        for (index, item) in elements.enumerated() {
            let itemPath = keyPath(key) + "[\(index)]"
            guard case .object = item else { throw .wrongType(document, path: itemPath, expected: "an object") }
            result.append(try element(ObjectReader(document: document, value: item, path: itemPath)))
        }
        return result
    }
}
