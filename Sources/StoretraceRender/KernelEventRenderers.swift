import StoretraceDecode

/// Text and JSON for the kernel-side sources: uevents, kernel log lines and
/// ftrace events (function tracer and tracepoints). They share the time,
/// who and namespace/latency columns of syscall lines, so everything lines
/// up on one timeline:
///
///     14:07:31.123456  [uevent]                                  bind pci 0000:1d:01.4 driver=nvme seq=4242
///     14:07:31.123501  bash[4120]                                bind_store <- kernfs_fop_write_iter cpu=1
///     14:07:31.125000  [kmsg]                                    <6>info nvme nvme0: pci function 0000:1d:01.4
extension TextRenderer {
    /// The columns before the description: time, who, the empty namespace
    /// column, and the latency column (empty but for a function's return).
    func appendKernelPrefix(monotonic: UInt64, latency: UInt64? = nil, into out: inout OutputBuffer,
                            who: (inout OutputBuffer) -> Void) {
        appendPrefix(monotonic: monotonic, into: &out)
        let start = out.count
        paint(.cyan, into: &out)
        who(&out)
        paint(.reset, into: &out)
        guard let latency else {
            out.pad(since: start, to: Self.commColumn + 1 + Self.namespaceColumn + 1 + Self.latencyColumn)
            out.append("  ")
            return
        }
        out.pad(since: start, to: Self.commColumn + 1 + Self.namespaceColumn)
        out.append(UInt8(ascii: " "))
        let latencyStart = out.count
        appendLatency(latency, into: &out)
        out.insertSpaces(at: latencyStart, count: Self.latencyColumn - out.displayWidth(since: latencyStart, skippingEscapes: true))
        out.append("  ")
    }

    public func renderUevent(_ message: UeventMessage, monotonic: UInt64, into out: inout OutputBuffer) {
        appendKernelPrefix(monotonic: monotonic, into: &out) { $0.append("[uevent]") }
        appendUeventBody(message, into: &out)
        out.append(UInt8(ascii: "\n"))
    }

    /// "bind pci 0000:1d:01.4 driver=nvme seq=4242": the line after the columns.
    func appendUeventBody(_ message: UeventMessage, into out: inout OutputBuffer) {
        paint(.bold, into: &out)
        out.appendPrintable(message.actionName)
        paint(.reset, into: &out)
        out.append(UInt8(ascii: " "))
        out.appendPrintable(message.subsystem)
        out.append(UInt8(ascii: " "))
        out.appendPrintable(message.deviceShownName)
        if let driver = message.driver {
            out.append(" driver=")
            out.appendPrintable(driver)
        }
        if let major = message.major, let minor = message.minor {
            out.append(" dev=")
            out.appendDecimal(major)
            out.append(UInt8(ascii: ":"))
            out.appendDecimal(minor)
        }
        if let sequence = message.sequenceNumber {
            out.append(" seq=")
            out.appendDecimal(sequence)
        }
        // What storetrace read from sysfs when the event arrived.
        if let loop = message.loopContext {
            if let file = loop.backingFile {
                out.append(" backing=")
                out.appendPrintable(file)
                if let offset = loop.offset, offset != 0 {
                    out.append(" offset=")
                    out.appendDecimal(offset)
                }
            } else {
                out.append(" detached")
            }
        }
        if let parent = message.pciParentContext {
            out.append(" on pci ")
            out.appendPrintable(parent.slot)
            if let driver = parent.driver {
                out.append(" (")
                out.appendPrintable(driver)
                out.append(UInt8(ascii: ")"))
            }
        }
    }

    public func renderKmsg(_ record: KmsgRecord, monotonic: UInt64, into out: inout OutputBuffer) {
        appendKernelPrefix(monotonic: monotonic, into: &out) { $0.append("[kmsg]") }
        appendKmsgBody(record, into: &out)
        out.append(UInt8(ascii: "\n"))
        let message = record.message
        if let mention = KmsgDevicePatterns.find(in: message, severe: record.level.rawValue <= 3) {
            let index = devices.table.resolve(mention, in: message)
            // A leading word or a bus device is only worth a line when known.
            if index != nil || mention.role == .blockDevice {
                devices.appendTextLine(index, name: mention.name(in: message), into: &out)
            }
        }
    }

    /// "<3>err I/O error, dev loop1, ...": the line after the columns.
    func appendKmsgBody(_ record: KmsgRecord, into out: inout OutputBuffer) {
        let severe = record.level.rawValue <= 3
        if severe { paint(.red, into: &out) }
        out.append(UInt8(ascii: "<"))
        out.appendDecimal(record.level.rawValue)
        out.append(UInt8(ascii: ">"))
        out.append(string: record.level.name)
        out.append(UInt8(ascii: " "))
        // /dev/kmsg escapes bytes outside printable ASCII as \xNN; undone
        // first, so that the one terminal escaper decides (UTF-8 shows as
        // text, controls as \xNN) and a capture's raw bytes cannot slip by.
        let message = record.message
        withUnsafeTemporaryAllocation(byteCount: max(message.count, 1), alignment: 1) { scratch in
            let count = KmsgRecord.unescape(message, into: scratch) ?? 0 // never nil: as large as the input
            out.appendPrintable(UnsafeRawBufferPointer(rebasing: scratch[..<count]))
        }
        if severe { paint(.reset, into: &out) }
    }

    /// `describe` turns a kernel address into `symbol+0xoff`.
    /// `task` is the thread that was running (nil: it could not be named);
    /// an event's own `comm` field (sched_wakeup's woken task) is a field.
    public func renderFtrace(_ view: FtraceEventView, monotonic: UInt64, cpu: UInt32,
                             task: TaskIdentity?, describe: (UInt64) -> String,
                             into out: inout OutputBuffer) {
        let context = view.context
        appendKernelPrefix(monotonic: monotonic, latency: view.graphCall?.durationNanoseconds, into: &out) { out in
            if context != .task {
                // A completion in interrupt context: the thread it
                // interrupted (ksoftirqd, any task) did not do it.
                out.append("in ")
                out.append(context.name)
                return
            }
            if let task, !task.comm.isEmpty {
                task.comm.withUnsafeBytes { out.appendPrintable($0) }
            } else {
                out.append("tid")
            }
            out.append(UInt8(ascii: "["))
            out.appendDecimal(task?.tgid ?? view.pid)
            out.append(UInt8(ascii: "]"))
        }
        paint(.bold, into: &out)
        if let call = view.functionCall {
            out.appendPrintable(string: describe(call.ip))
            paint(.reset, into: &out)
            out.append(" <- ")
            out.appendPrintable(string: describe(call.parentIP))
        } else if let call = view.graphCall {
            // function_graph: "→ nvme_probe" when called, "nvme_probe = -19
            // ENODEV" with its duration in the latency column when it returns.
            if call.phase == .entry { out.append("→ ") }
            out.appendPrintable(string: describe(call.function))
            paint(.reset, into: &out)
            if call.phase == .exit { appendReturn(of: call, into: &out) }
        } else {
            // Names come from format files, or from a capture: untrusted.
            out.appendPrintable(string: view.system)
            out.append(UInt8(ascii: ":"))
            out.appendPrintable(string: view.name)
            paint(.reset, into: &out)
            view.forEachField { field, value in
                out.append(UInt8(ascii: " "))
                out.appendPrintable(string: field.name)
                out.append(UInt8(ascii: "="))
                if view.isDeviceField(field), case .unsigned(let number) = value {
                    let device = KernelDeviceNumber.decode(number)
                    out.appendDecimal(device.major)
                    out.append(UInt8(ascii: ":"))
                    out.appendDecimal(device.minor)
                    return
                }
                switch value {
                case .signed(let number): out.appendDecimal(number)
                case .unsigned(let number): out.appendDecimal(number)
                case .pointer(let address): out.appendHex(address)
                case .string(let text): out.appendQuoted(text)
                case .bytes(let bytes): out.append("<"); out.appendDecimal(bytes.count); out.append(" bytes>")
                case .unreadable: out.append("?")
                }
            }
        }
        out.append(" cpu=")
        out.appendDecimal(cpu)
        out.append(UInt8(ascii: "\n"))
        if let number = view.deviceNumber, let index = devices.table.index(major: number.major, minor: number.minor) {
            devices.appendTextLine(index, name: UnsafeRawBufferPointer(start: nil, count: 0), into: &out)
        }
    }
}

extension UeventMessage {
    /// The device by its most useful name: the PCI address, the /dev name,
    /// or the last component of the sysfs path (unescaped).
    public var deviceShownName: UnsafeRawBufferPointer {
        if let slot = pciSlotName { return slot }
        if let name = devname { return name }
        let path = devpath
        let slash = path.lastIndex(of: UInt8(ascii: "/")).map { $0 + 1 } ?? 0
        return UnsafeRawBufferPointer(rebasing: path[slash...])
    }
}

extension TextRenderer {
    /// ` = 0`, ` = -19 ENODEV`, or ` returned` when the kernel did not record the value.
    func appendReturn(of call: GraphCall, into out: inout OutputBuffer) {
        guard let value = call.signedReturnValue else {
            out.append(" returned")
            return
        }
        out.append(" = ")
        if let errno = call.errno {
            paint(.red, into: &out)
            out.append("-")
            out.appendDecimal(errno)
            out.append(UInt8(ascii: " "))
            if let name = ErrnoNames.name(errno) {
                out.append(name)
            } else {
                out.append("E?")
                out.appendDecimal(errno)
            }
        } else {
            paint(.green, into: &out)
            out.appendDecimal(value)
        }
        paint(.reset, into: &out)
    }
}

extension JSONRenderer {
    private func head(type: StaticString, monotonic: UInt64, into out: inout OutputBuffer) {
        out.append("{\"time\":")
        appendTime(monotonic: monotonic, into: &out)
        out.append(",\"type\":\"")
        out.append(type)
        out.append("\"")
    }

    private func optionalString(_ key: StaticString, _ value: UnsafeRawBufferPointer?, into out: inout OutputBuffer) {
        out.append(",\"")
        out.append(key)
        out.append("\":")
        if let value { out.appendJSONString(value) } else { out.append("null") }
    }

    /// Kernel-side events have no calling process: pid, tid and comm are null.
    private func noProcess(into out: inout OutputBuffer) {
        out.append(",\"pid\":null,\"tid\":null,\"comm\":null")
    }

    public func renderUevent(_ message: UeventMessage, monotonic: UInt64, into out: inout OutputBuffer) {
        head(type: "uevent", monotonic: monotonic, into: &out)
        noProcess(into: &out)
        optionalString("action", message.actionName, into: &out)
        optionalString("subsystem", message.subsystem, into: &out)
        optionalString("devpath", message.devpath, into: &out)
        optionalString("devname", message.devname, into: &out)
        optionalString("devtype", message.devtype, into: &out)
        optionalString("driver", message.driver, into: &out)
        optionalString("pci_slot", message.pciSlotName, into: &out)
        out.append(",\"major\":")
        if let major = message.major { out.appendDecimal(major) } else { out.append("null") }
        out.append(",\"minor\":")
        if let minor = message.minor { out.appendDecimal(minor) } else { out.append("null") }
        out.append(",\"seqnum\":")
        if let sequence = message.sequenceNumber { out.appendDecimal(sequence) } else { out.append("null") }
        // Present only when storetrace read them from sysfs at receipt.
        if let loop = message.loopContext {
            out.append(",\"loop\":{\"backing_file\":")
            if let file = loop.backingFile { out.appendJSONString(file) } else { out.append("null") }
            out.append(",\"offset\":")
            if let offset = loop.offset { out.appendDecimal(offset) } else { out.append("null") }
            out.append(UInt8(ascii: "}"))
        }
        if let parent = message.pciParentContext {
            out.append(",\"pci_parent\":{\"slot\":")
            out.appendJSONString(parent.slot)
            out.append(",\"driver\":")
            if let driver = parent.driver { out.appendJSONString(driver) } else { out.append("null") }
            out.append(UInt8(ascii: "}"))
        }
        out.append(",\"properties\":{")
        var first = true
        message.forEachProperty { key, value in
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.appendJSONString(key)
            out.append(UInt8(ascii: ":"))
            out.appendJSONString(value)
        }
        out.append("}}\n")
    }

    public func renderKmsg(_ record: KmsgRecord, monotonic: UInt64, into out: inout OutputBuffer) {
        head(type: "kmsg", monotonic: monotonic, into: &out)
        noProcess(into: &out)
        out.append(",\"level\":\"")
        out.append(string: record.level.name)
        out.append("\",\"priority\":") // as /dev/kmsg writes it: facility * 8 + level
        out.appendDecimal(UInt32(record.facility) << 3 | UInt32(record.level.rawValue))
        out.append(",\"facility\":")
        out.appendDecimal(record.facility)
        out.append(",\"seq\":")
        out.appendDecimal(record.sequence)
        out.append(",\"kernel_time_us\":")
        out.appendDecimal(record.timestampMicroseconds)
        // The message as the kernel printed it: /dev/kmsg escapes bytes
        // outside printable ASCII (UTF-8 too) as "\xNN"; JSON escapes its own.
        out.append(",\"message\":")
        let message = record.message
        withUnsafeTemporaryAllocation(byteCount: max(message.count, 1), alignment: 1) { scratch in
            let count = KmsgRecord.unescape(message, into: scratch) ?? 0 // never nil: as large as the input
            out.appendJSONString(UnsafeRawBufferPointer(rebasing: scratch[..<count]))
        }
        optionalString("subsystem", record.subsystem, into: &out)
        // DEVICE= when the kernel gave one; else the block device the
        // message names, in DEVICE='s own form ("b7:0").
        let mention = KmsgDevicePatterns.find(in: message, severe: record.level.rawValue <= 3)
        let index = mention.flatMap { devices.table.resolve($0, in: message) }
        if record.device == nil, let index {
            out.append(",\"device\":\"b")
            out.appendDecimal(devices.table.devices[index].major)
            out.append(UInt8(ascii: ":"))
            out.appendDecimal(devices.table.devices[index].minor)
            out.append("\"")
        } else {
            optionalString("device", record.device, into: &out)
        }
        out.append(",\"resolved_device\":")
        if let mention, index != nil || mention.role == .blockDevice {
            devices.appendJSONObject(index, name: mention.name(in: message), mention: mention, into: &out)
        } else {
            out.append("null")
        }
        out.append("}\n")
    }

    public func renderFtrace(_ view: FtraceEventView, monotonic: UInt64, cpu: UInt32,
                             task: TaskIdentity?, describe: (UInt64) -> String,
                             into out: inout OutputBuffer) {
        head(type: view.isFunctionEvent ? "function" : "tracepoint", monotonic: monotonic, into: &out)
        // ftrace records the thread id (common_pid); the process and the
        // name come from the session's task table.
        out.append(",\"pid\":")
        if let task { out.appendDecimal(task.tgid) } else { out.append("null") }
        out.append(",\"tid\":")
        out.appendDecimal(view.pid)
        out.append(",\"comm\":")
        if let task { task.comm.withUnsafeBytes { out.appendJSONString($0) } } else { out.append("null") }
        out.append(",\"cpu\":")
        out.appendDecimal(cpu)
        out.append(",\"context\":\"")
        out.append(view.context.name)
        out.append("\"")
        if let call = view.functionCall {
            out.append(",\"function\":")
            out.appendJSONString(string: describe(call.ip))
            out.append(",\"caller\":")
            out.appendJSONString(string: describe(call.parentIP))
            out.append(",\"ip\":\"")
            out.appendHex(call.ip)
            out.append("\",\"parent_ip\":\"")
            out.appendHex(call.parentIP)
            out.append("\"}\n")
            return
        }
        if let call = view.graphCall {
            out.append(",\"function\":")
            out.appendJSONString(string: describe(call.function))
            out.append(",\"ip\":\"")
            out.appendHex(call.function)
            out.append(call.phase == .entry ? "\",\"phase\":\"entry\"" : "\",\"phase\":\"return\"")
            out.append(",\"depth\":")
            out.appendDecimal(call.depth)
            if call.phase == .exit {
                out.append(",\"retval\":")
                if let value = call.signedReturnValue { out.appendDecimal(value) } else { out.append("null") }
                out.append(",\"errno\":")
                appendErrno(call.errno, into: &out)
                out.append(",\"duration_ns\":")
                if let duration = call.durationNanoseconds { out.appendDecimal(duration) } else { out.append("null") }
            }
            out.append("}\n")
            return
        }
        out.append(",\"event\":")
        out.appendJSONString(string: view.system + ":" + view.name)
        out.append(",\"fields\":{")
        var first = true
        view.forEachField { field, value in
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.appendJSONString(string: field.name)
            out.append(UInt8(ascii: ":"))
            switch value {
            case .signed(let number): out.appendDecimal(number)
            case .unsigned(let number): out.appendDecimal(number)
            case .pointer(let address): out.append("\""); out.appendHex(address); out.append("\"")
            case .string(let text): out.appendJSONString(text)
            case .bytes(let bytes):
                out.append("\"")
                for byte in bytes { out.appendHexByte(byte) }
                out.append("\"")
            case .unreadable: out.append("null")
            }
        }
        out.append("},\"resolved_device\":")
        if let number = view.deviceNumber {
            if let index = devices.table.index(major: number.major, minor: number.minor) {
                devices.appendJSONObject(index, name: UnsafeRawBufferPointer(start: nil, count: 0), mention: nil, into: &out)
            } else {
                out.append("{\"name\":null,\"major\":")
                out.appendDecimal(number.major)
                out.append(",\"minor\":")
                out.appendDecimal(number.minor)
                out.append(",\"known\":false,\"gone\":null,\"loop_backing_file\":null,\"loop_backing_file_short\":null,\"mounts\":[]}")
            }
        } else {
            out.append("null")
        }
        out.append("}\n")
    }
}

extension OutputBuffer {
    public mutating func appendJSONString(string: String) {
        var copy = string
        copy.withUTF8 { appendJSONString(UnsafeRawBufferPointer($0)) }
    }
}
