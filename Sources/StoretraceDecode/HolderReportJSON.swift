// The JSON form of a holder report: what a capture stores for a `holders`
// event and what `storetrace holders --json` prints after the event's
// header (keys in docs/events.md, "holders"). Keys are snake_case and come
// in a fixed order; absent values are left out. The reader ignores keys it
// does not know and names the path of a value of the wrong type.

// MARK: - Encoding

extension HolderReport {
    /// One line of JSON: what a capture stores.
    public func jsonText() -> String {
        jsonValue.serialized(.compact)
    }

    public var jsonValue: JSONValue {
        .object([.init("format", .string(Self.format)), .init("version", .integer(Self.version))] + bodyMembers)
    }

    /// The members after "format" and "version": also the body of a
    /// `holders` event, so the stored and the printed form cannot drift.
    public var bodyMembers: [JSONValue.Member] {
        var top = MemberList()
        top.add("target", target.jsonValue)
        top.add("scanned_at_ns", .integer(scannedAtMonotonicNanoseconds))
        top.add("duration_ns", .integer(durationNanoseconds))
        top.add("held", .bool(isHeld))
        // Only when true: reports of mounts still there read as before.
        if targetGone { top.add("target_gone", .bool(true)) }
        top.add("holders", .array(holders.map(\.jsonValue)))
        top.add("namespaces", .array(namespaces.map(\.jsonValue)))
        top.add("scan", .object([
            .init("processes", .integer(counts.processes)),
            .init("mount_namespaces", .integer(counts.mountNamespaces)),
            .init("mounts", .integer(counts.mounts)),
            .init("processes_exited", .integer(counts.processesExited)),
            .init("entries_unreadable", .integer(counts.entriesUnreadable)),
            .init("processes_over_limit", .integer(counts.processesOverLimit)),
            .init("namespaces_unreadable", .integer(counts.namespacesUnreadable)),
            .init("holders_over_limit", .integer(counts.holdersOverLimit)),
            .init("budget_exhausted", .bool(budgetExhausted)),
        ]))
        return top.members
    }
}

extension HolderReport.Target {
    var jsonValue: JSONValue {
        var list = MemberList()
        list.add("given", .string(given))
        list.add("kind", .string(kind.rawValue))
        list.add("mount_id", mountID)
        list.add("mntns", mountNamespace)
        list.add("mount_point", mountPoint)
        list.add("root", root)
        list.add("fstype", fstype)
        list.add("source", source)
        list.add("peer_group", peerGroup)
        list.add("dev", .string("\(major):\(minor)"))
        list.add("device", deviceName)
        if !partitions.isEmpty { list.add("partitions", .array(partitions.map { .string($0) })) }
        return .object(list.members)
    }
}

extension HolderReport.Holder {
    var jsonValue: JSONValue {
        var list = MemberList()
        list.add("how", .string(how.rawValue))
        list.add("pid", pid)
        list.add("comm", comm)
        list.add("mntns", mountNamespace)
        list.add("fd", fd)
        list.add("path", path)
        list.add("mount_id", mountID)
        if let openFlags {
            list.add("flags", .array(FlagTables.openFlagNames(UInt64(openFlags)).map { .string($0) }))
            list.add("open_flags", .integer(openFlags))
        }
        list.add("device", device)
        if let claimedAtMonotonicNanoseconds { list.add("claimed_at_ns", .integer(claimedAtMonotonicNanoseconds)) }
        switch via {
        case .target: list.add("via", .string("target"))
        case .peer(let group):
            list.add("via", .string("peer"))
            list.add("peer_group", .integer(group))
        case .slave(let group):
            list.add("via", .string("slave"))
            list.add("peer_group", .integer(group))
        case .sameRoot: list.add("via", .string("same-root"))
        case .sameDevice(let root):
            list.add("via", .string("same-device"))
            list.add("via_root", .string(root))
        case .below(let mountID, let onTop):
            list.add("via", .string("below"))
            list.add("under_mount_id", .integer(mountID))
            list.add("on_top", .bool(onTop))
        case .device: list.add("via", .string("device"))
        }
        return .object(list.members)
    }
}

extension HolderReport.Namespace {
    /// `host`, or `mnt:INODE`: how text output names the namespace.
    public var label: String { isHost ? "host" : "mnt:\(inode)" }

    var jsonValue: JSONValue {
        var list = MemberList()
        list.add("mntns", .integer(inode))
        list.add("label", .string(label))
        list.add("pid", pid)
        list.add("comm", comm)
        list.add("processes", .integer(processCount))
        list.add("pinned_at", pinnedAt)
        return .object(list.members)
    }
}

// MARK: - Decoding

extension HolderReport {
    public init(json bytes: [UInt8], limits: JSONLimits = JSONLimits()) throws(JSONDocumentError) {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes, limits: limits)
        } catch {
            throw .json(.holderReport, error)
        }
        try self.init(jsonValue: value)
    }

    public init(json text: String, limits: JSONLimits = JSONLimits()) throws(JSONDocumentError) {
        try self.init(json: Array(text.utf8), limits: limits)
    }

    public init(jsonValue value: JSONValue) throws(JSONDocumentError) {
        guard case .object = value else { throw .wrongType(.holderReport, path: "(document)", expected: "an object") }
        do {
            try self.init(reading: ObjectReader(document: .holderReport, value: value, path: ""))
        } catch let error as JSONDocumentError {
            throw error
        } catch {
            throw .wrongType(.holderReport, path: "(document)", expected: "a holder report")
        }
    }

    private init(reading top: ObjectReader) throws {
        let format = try top.optional("format", \.stringValue, "a string")
        guard format == Self.format else { throw JSONDocumentError.notA(.holderReport, format: format) }
        let version: Int = try top.required("version", { $0.integer() }, "an integer")
        guard version >= 1, version <= Self.version else { throw JSONDocumentError.unsupportedVersion(.holderReport, version) }

        let targetObject = try top.object("target")
        let kindName: String = try targetObject.required("kind", \.stringValue, "a string")
        guard let kind = Target.Kind(rawValue: kindName) else {
            throw JSONDocumentError.wrongType(.holderReport, path: "target.kind", expected: "\"path\" or \"device\"")
        }
        let devText: String = try targetObject.required("dev", \.stringValue, "a string")
        guard let dev = SnapshotText.deviceNumber(devText[...]) else {
            throw JSONDocumentError.wrongType(.holderReport, path: "target.dev", expected: "MAJ:MIN")
        }
        target = Target(
            given: try targetObject.required("given", \.stringValue, "a string"),
            kind: kind,
            mountID: try targetObject.optional("mount_id", { $0.integer() }, "a mount id"),
            mountNamespace: try targetObject.optional("mntns", { $0.integer() }, "an inode number"),
            mountPoint: try targetObject.optional("mount_point", \.stringValue, "a string"),
            root: try targetObject.optional("root", \.stringValue, "a string"),
            fstype: try targetObject.optional("fstype", \.stringValue, "a string"),
            source: try targetObject.optional("source", \.stringValue, "a string"),
            peerGroup: try targetObject.optional("peer_group", { $0.integer() }, "a peer group"),
            major: dev.major, minor: dev.minor,
            deviceName: try targetObject.optional("device", \.stringValue, "a string"),
            partitions: try targetObject.optionalStrings("partitions") ?? [])
        scannedAtMonotonicNanoseconds = try top.required("scanned_at_ns", { $0.integer() }, "an integer")
        durationNanoseconds = try top.optional("duration_ns", { $0.integer() }, "an integer") ?? 0
        holders = try top.array("holders", Holder.init(reading:))
        namespaces = try top.array("namespaces") { (entry) throws(JSONDocumentError) in
            Namespace(
                inode: try entry.required("mntns", { $0.integer() }, "an inode number"),
                isHost: try entry.optional("label", \.stringValue, "a string") == "host",
                pid: try entry.optional("pid", { $0.integer() }, "a pid"),
                comm: try entry.optional("comm", \.stringValue, "a string"),
                processCount: try entry.optional("processes", { $0.integer() }, "a count") ?? 0,
                pinnedAt: try entry.optional("pinned_at", \.stringValue, "a string"))
        }
        counts = Counts()
        budgetExhausted = false
        targetGone = try top.optional("target_gone", \.boolValue, "a boolean") ?? false
        if top.has("scan") {
            let scan = try top.object("scan")
            func count(_ key: String) throws(JSONDocumentError) -> Int {
                try scan.optional(key, { $0.integer() }, "a count") ?? 0
            }
            counts = Counts(processes: try count("processes"), mountNamespaces: try count("mount_namespaces"),
                            mounts: try count("mounts"), processesExited: try count("processes_exited"),
                            entriesUnreadable: try count("entries_unreadable"),
                            processesOverLimit: try count("processes_over_limit"),
                            namespacesUnreadable: try count("namespaces_unreadable"),
                            holdersOverLimit: try count("holders_over_limit"))
            budgetExhausted = try scan.optional("budget_exhausted", \.boolValue, "a boolean") ?? false
        }
    }
}

extension HolderReport.Holder {
    fileprivate init(reading entry: ObjectReader) throws(JSONDocumentError) {
        let howName: String = try entry.required("how", \.stringValue, "a string")
        guard let how = How(rawValue: howName) else {
            throw .wrongType(.holderReport, path: entry.keyPath("how"), expected: "a kind of holder")
        }
        let viaName: String = try entry.required("via", \.stringValue, "a string")
        let via: Via
        switch viaName {
        case "target": via = .target
        case "peer": via = .peer(group: try entry.required("peer_group", { $0.integer() }, "a peer group"))
        case "slave": via = .slave(group: try entry.required("peer_group", { $0.integer() }, "a peer group"))
        case "same-root": via = .sameRoot
        case "same-device": via = .sameDevice(root: try entry.required("via_root", \.stringValue, "a string"))
        case "below":
            via = .below(mountID: try entry.required("under_mount_id", { $0.integer() }, "a mount id"),
                         onTop: try entry.optional("on_top", \.boolValue, "a boolean") ?? false)
        case "device": via = .device
        default: throw .wrongType(.holderReport, path: entry.keyPath("via"), expected: "a relation to the target")
        }
        self.init(
            how: how, via: via,
            pid: try entry.optional("pid", { $0.integer() }, "a pid"),
            comm: try entry.optional("comm", \.stringValue, "a string"),
            mountNamespace: try entry.optional("mntns", { $0.integer() }, "an inode number"),
            path: try entry.optional("path", \.stringValue, "a string"),
            mountID: try entry.optional("mount_id", { $0.integer() }, "a mount id"),
            fd: try entry.optional("fd", { $0.integer() }, "an fd"),
            openFlags: try entry.optional("open_flags", { $0.integer() }, "open flags"),
            device: try entry.optional("device", \.stringValue, "a string"),
            claimedAtMonotonicNanoseconds: try entry.optional("claimed_at_ns", { $0.integer() }, "an integer"))
    }
}
