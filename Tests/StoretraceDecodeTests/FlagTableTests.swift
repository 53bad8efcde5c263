import CUAPI
import Glibc
import Testing
@testable import StoretraceDecode

/// Every table entry against the value in the installed UAPI headers
/// (linux-libc-dev) or glibc. A name the headers of this Debian release do
/// not have yet is checked against the literal from the kernel source.
@Suite struct FlagTableTests {
    /// The value of `name` in the installed headers.
    func uapi(_ name: String) -> UInt64? {
        var value: UInt64 = 0
        return st_uapi_value(name, &value) == 1 ? value : nil
    }

    /// Names newer than this Debian's headers (linux-libc-dev 6.1), with the
    /// value from the kernel source that introduced them.
    static let newerThanHeaders: [String: UInt64] = [
        "MOVE_MOUNT_BENEATH": 0x200,          // Linux 6.5, include/uapi/linux/mount.h
        "UMOUNT_UNUSED": 0x8000_0000,         // include/linux/fs.h, kernel-internal marker
        "FSCONFIG_CMD_CREATE_EXCL": 8,        // Linux 6.6
        "O_LARGEFILE": 0o100000,              // glibc defines it as 0 on 64-bit; asm-generic/fcntl.h
    ]

    func expected(_ name: String) -> UInt64? {
        uapi(name) ?? Self.newerThanHeaders[name]
    }

    /// Every entry of every table has the headers' value for its name.
    @Test(arguments: [
        ("mount", FlagTables.mount), ("umount", FlagTables.umount), ("fsopen", FlagTables.fsopen),
        ("fsmount", FlagTables.fsmount), ("mountAttr", FlagTables.mountAttr),
        ("mountAttrClear", FlagTables.mountAttrClear), ("propagation", FlagTables.propagation),
        ("moveMount", FlagTables.moveMount), ("openTree", FlagTables.openTree), ("atFlags", FlagTables.atFlags),
        ("fspick", FlagTables.fspick), ("splice", FlagTables.splice), ("open", FlagTables.open),
    ])
    func tableMatchesHeaders(table: (String, FlagTable)) {
        for entry in table.1.entries {
            let name = entry.name.description
            #expect(expected(name) != nil, "\(table.0): \(name) is not in the headers")
            #expect(entry.value == expected(name), "\(table.0): \(name)")
        }
    }

    @Test func tablesAreComplete() {
        #expect(FlagTables.mount.entries.count == 31)
        #expect(FlagTables.umount.entries.count == 5)
        #expect(FlagTables.moveMount.entries.count == 8)
        #expect(FlagTables.fspick.entries.count == 4)
        #expect(FlagTables.splice.entries.count == 4)
        #expect(FlagTables.copyFileRange.entries.isEmpty)
    }

    @Test func fsconfigCommands() {
        for name in ["FSCONFIG_SET_FLAG", "FSCONFIG_SET_STRING", "FSCONFIG_SET_BINARY", "FSCONFIG_SET_PATH",
                     "FSCONFIG_SET_PATH_EMPTY", "FSCONFIG_SET_FD", "FSCONFIG_CMD_CREATE",
                     "FSCONFIG_CMD_RECONFIGURE", "FSCONFIG_CMD_CREATE_EXCL"] {
            let value = expected(name)
            #expect(value != nil, "\(name)")
            #expect(value.flatMap { FlagTables.fsconfigCommand($0)?.description } == name)
        }
        #expect(FlagTables.fsconfigCommand(9) == nil)
    }

    @Test func specialValues() {
        #expect(UInt64(UInt32(bitPattern: FlagTables.atFDCWD)) == uapi("AT_FDCWD"))
        #expect(uapi("MS_MGC_VAL") == 0xC0ED_0000 && uapi("MS_MGC_MSK") == 0xffff_0000)
        #expect(uapi("MOUNT_ATTR__ATIME") == 0x70)
        #expect(uapi("OPEN_TREE_CLOEXEC") == 0x80000)
    }

    @Test func openFlagsAsFdinfoShowsThem() {
        // fdinfo "flags:\t02100002": O_RDWR, O_LARGEFILE, O_CLOEXEC.
        #expect(FlagTables.openFlagNames(0o2100002) == ["O_RDWR", "O_LARGEFILE", "O_CLOEXEC"])
        #expect(FlagTables.openFlagNames(0o100000) == ["O_RDONLY", "O_LARGEFILE"])
        #expect(FlagTables.openFlagNames(uapi("O_SYNC")! | 1) == ["O_WRONLY", "O_SYNC"])
        #expect(FlagTables.openFlagNames(uapi("O_DSYNC")!) == ["O_RDONLY", "O_DSYNC"])
        for mode in ["O_RDONLY", "O_WRONLY", "O_RDWR"] {
            #expect(FlagTables.openAccessMode(uapi(mode)!).description == mode)
        }
    }

    @Test func tablesAreNotMixedUp() {
        // The bugs of popular tools: MS_BIND printed as MS_MOVE, MNT_DETACH as MS_NOSUID.
        #expect(FlagTables.mount.names(uapi("MS_BIND")!) == ["MS_BIND"])
        #expect(FlagTables.mount.names(uapi("MS_MOVE")!) == ["MS_MOVE"])
        #expect(FlagTables.umount.names(uapi("MNT_DETACH")!) == ["MNT_DETACH"])
        #expect(FlagTables.umount.names(uapi("MNT_FORCE")! | uapi("MNT_DETACH")!) == ["MNT_FORCE", "MNT_DETACH"])
    }

    @Test func unknownBitsAreOneHexString() {
        #expect(FlagTables.mount.names(0x1000 | 0x200) == ["MS_BIND", "0x200"])
        #expect(FlagTables.umount.names(0x40000000 | 0x30) == ["0x40000030"])
        #expect(FlagTables.copyFileRange.names(0) == [])
        #expect(FlagTables.copyFileRange.names(1) == ["0x1"])
    }

    @Test func mountMagicIsMasked() {
        // mount(8) of old passed MS_MGC_VAL (0xC0ED0000) in the top half; the kernel drops it.
        #expect(FlagTables.mount.names(0xC0ED_0000 | 1) == ["MS_RDONLY"])
        #expect(FlagTables.mount.names(0xC0ED_0000) == [])
        // Without the exact magic, high bits are real flags or unknown.
        #expect(FlagTables.mount.names(0x1_0000_0000) == ["0x100000000"])
    }

    @Test func atimeField() {
        #expect(FlagTables.mountAttr.names(0x10 | 0x1) == ["MOUNT_ATTR_RDONLY", "MOUNT_ATTR_NOATIME"])
        #expect(FlagTables.mountAttr.names(0x20) == ["MOUNT_ATTR_STRICTATIME"])
        #expect(FlagTables.mountAttr.names(0) == []) // relatime is the default: not printed
        #expect(FlagTables.mountAttr.names(0x30) == ["0x30"]) // not a valid atime value
        #expect(FlagTables.mountAttrClear.names(0x70) == ["MOUNT_ATTR__ATIME"])
    }
}

@Suite struct ErrnoNameTests {
    @Test func matchesGlibc() {
        for value in Int32(1)...133 {
            let glibc = st_errno_name(value).map { String(cString: $0) }
            let ours = ErrnoNames.name(value)?.description
            if value == 41 || value == 58 {
                #expect(ours == nil) // unused numbers
            } else {
                #expect(ours == glibc, "errno \(value)")
            }
        }
        #expect(ErrnoNames.name(16)?.description == "EBUSY")
        #expect(ErrnoNames.name(22)?.description == "EINVAL")
        #expect(ErrnoNames.name(512)?.description == "ERESTARTSYS")
        #expect(ErrnoNames.name(0) == nil)
        #expect(ErrnoNames.name(-1) == nil)
        #expect(ErrnoNames.name(4000) == nil)
    }
}

@Suite struct ClockTests {
    @Test func civilTime() {
        let t = CivilTime(epochNanoseconds: 1_795_442_851_123_456_789) // 2026-11-23T14:07:31.123456789Z
        #expect(t == CivilTime(year: 2026, month: 11, day: 23, hour: 14, minute: 7, second: 31, nanosecond: 123_456_789))
        #expect(CivilTime(epochNanoseconds: 0) == CivilTime(year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0, nanosecond: 0))
        #expect(CivilTime(epochNanoseconds: 951_782_400_000_000_000) == CivilTime(year: 2000, month: 2, day: 29, hour: 0, minute: 0, second: 0, nanosecond: 0))
        #expect(CivilTime(epochNanoseconds: -1) == CivilTime(year: 1969, month: 12, day: 31, hour: 23, minute: 59, second: 59, nanosecond: 999_999_999))
        #expect(CivilTime(epochNanoseconds: 0, utcOffsetSeconds: 3600).hour == 1)
    }

    @Test func civilTimeMatchesGmtime() {
        for seconds in stride(from: Int64(-2_000_000_000), through: 4_000_000_000, by: 7_777_777) {
            var value = time_t(seconds)
            var parts = tm()
            gmtime_r(&value, &parts)
            let ours = CivilTime(epochNanoseconds: seconds * 1_000_000_000)
            #expect(ours.year == Int(parts.tm_year) + 1900 && ours.month == Int(parts.tm_mon) + 1 && ours.day == Int(parts.tm_mday))
            #expect(ours.hour == Int(parts.tm_hour) && ours.minute == Int(parts.tm_min) && ours.second == Int(parts.tm_sec))
        }
    }
}

extension CivilTime {
    init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, nanosecond: Int) {
        self.init(epochNanoseconds: 0)
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.nanosecond = nanosecond
    }
}
