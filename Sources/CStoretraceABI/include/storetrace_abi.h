/* storetrace_abi.h: the records the BPF programs write and storetrace reads.
 *
 * This header is the single definition of the wire layout. It is included by
 * bpf/storetrace.bpf.c (compiled for the BPF target) and imported by Swift as
 * the CStoretraceABI module. Fixed-width integers only, explicit padding, and
 * _Static_assert on every size and offset that user space depends on: if a
 * change moves a field, both sides fail to build instead of disagreeing.
 *
 * A record is a fixed header (struct st_syscall_event) followed by up to
 * ST_MAX_STRINGS strings, each str_len[i] bytes long with no terminator. The
 * record's total size is in `size`; records are variable-length.
 */
#ifndef STORETRACE_ABI_H
#define STORETRACE_ABI_H

#ifdef __bpf__
/* vmlinux-free BPF build: the basic types come from the BPF program. */
#else
#include <stdint.h>
#endif

/* Bump when the layout below changes. Captures store it. */
#define ST_ABI_VERSION 1

/* Longest string copied from user memory, in bytes, without the NUL.
 * PATH_MAX is 4096 including the NUL, so any path the kernel accepts fits;
 * mount(2)'s data page is also at most 4096 bytes. */
#define ST_STR_CAP 4096
#define ST_MAX_STRINGS 4

/* What kind of call a record describes. Values are part of the capture
 * format: never renumber, only append. */
enum st_kind {
    ST_KIND_MOUNT = 1,
    ST_KIND_UMOUNT = 2,
    ST_KIND_FSOPEN = 3,
    ST_KIND_FSCONFIG = 4,
    ST_KIND_FSMOUNT = 5,
    ST_KIND_MOVE_MOUNT = 6,
    ST_KIND_OPEN_TREE = 7,
    ST_KIND_MOUNT_SETATTR = 8,
    ST_KIND_FSPICK = 9,
    ST_KIND_COPY_FILE_RANGE = 10,
    ST_KIND_SPLICE = 11,
    ST_KIND_SENDFILE = 12,
    /* rmdir(2) and unlinkat(2) with AT_REMOVEDIR: only the calls that fail
     * with EBUSY are emitted (a directory that is a mount point, or held),
     * so a node that removes many directories pays an entry and an exit
     * program per call and nothing more. */
    ST_KIND_RMDIR = 13,
    ST_KIND_UNLINKAT = 14,
    ST_KIND_MAX = 14,
};

/* Where the strings of a record come from, by kind: the one definition of
 * the string slots. The BPF program's on_exit reads each slot from the
 * argument named here, and a Swift test holds SyscallDescription (the
 * renderers' view of every argument) against it. A slot is a source in the
 * high nibble and an argument register (0-5) in the low nibble. */
enum st_slot_source {
    ST_SLOT_NONE = 0x00,           /* the kind has no string in this slot */
    ST_SLOT_USER_STR = 0x10,       /* the string the argument points at, in user memory */
    ST_SLOT_FSCONFIG_VALUE = 0x20, /* a user string only for the fsconfig commands that pass one
                                    * (ST_FSCONFIG_CMD_HAS_STRING); else the slot is marked NULL */
    ST_SLOT_FD_NAME = 0x30,        /* the last path component of the file the fd argument refers to */
};

#define ST_SLOT(source, arg) ((uint8_t)((source) | (arg)))
#define ST_SLOT_SOURCE(slot) ((slot) & 0xf0)
#define ST_SLOT_ARG(slot) ((slot) & 0x0f)

/* fsconfig(2) commands whose `value` (argument 3) is a string: FSCONFIG_SET_STRING,
 * FSCONFIG_SET_PATH, FSCONFIG_SET_PATH_EMPTY. For the others it is a blob, an fd or NULL. */
#define ST_FSCONFIG_CMD_HAS_STRING(cmd) ((cmd) == 1 || (cmd) == 3 || (cmd) == 4)

#ifdef __bpf__
#define ST_ABI_INLINE static inline __attribute__((always_inline))
#else
#define ST_ABI_INLINE static inline
#endif

/* String slot `i` of a record of `kind` (ST_SLOT_NONE past the kind's strings). */
ST_ABI_INLINE uint8_t st_string_slot(uint32_t kind, uint32_t i)
{
    switch (kind) {
    case ST_KIND_MOUNT: /* mount(dev_name, dir_name, type, flags, data) */
        return i == 0 ? ST_SLOT(ST_SLOT_USER_STR, 0)
             : i == 1 ? ST_SLOT(ST_SLOT_USER_STR, 1)
             : i == 2 ? ST_SLOT(ST_SLOT_USER_STR, 2)
             : i == 3 ? ST_SLOT(ST_SLOT_USER_STR, 4) : ST_SLOT_NONE;
    case ST_KIND_UMOUNT: /* umount2(target, flags) */
    case ST_KIND_FSOPEN: /* fsopen(fs_name, flags) */
        return i == 0 ? ST_SLOT(ST_SLOT_USER_STR, 0) : ST_SLOT_NONE;
    case ST_KIND_FSCONFIG: /* fsconfig(fd, cmd, key, value, aux) */
        return i == 0 ? ST_SLOT(ST_SLOT_USER_STR, 2)
             : i == 1 ? ST_SLOT(ST_SLOT_FSCONFIG_VALUE, 3) : ST_SLOT_NONE;
    case ST_KIND_MOVE_MOUNT: /* move_mount(from_dfd, from_path, to_dfd, to_path, flags) */
        return i == 0 ? ST_SLOT(ST_SLOT_USER_STR, 1)
             : i == 1 ? ST_SLOT(ST_SLOT_USER_STR, 3) : ST_SLOT_NONE;
    case ST_KIND_RMDIR: /* rmdir(pathname) */
        return i == 0 ? ST_SLOT(ST_SLOT_USER_STR, 0) : ST_SLOT_NONE;
    case ST_KIND_UNLINKAT: /* unlinkat(dfd, pathname, flags) */
    case ST_KIND_OPEN_TREE:     /* open_tree(dfd, path, flags) */
    case ST_KIND_MOUNT_SETATTR: /* mount_setattr(dfd, path, flags, uattr, usize) */
    case ST_KIND_FSPICK:        /* fspick(dfd, path, flags) */
        return i == 0 ? ST_SLOT(ST_SLOT_USER_STR, 1) : ST_SLOT_NONE;
    case ST_KIND_COPY_FILE_RANGE: /* copy_file_range(fd_in, off_in, fd_out, off_out, len, flags) */
    case ST_KIND_SPLICE:          /* splice(fd_in, off_in, fd_out, off_out, len, flags) */
        return i == 0 ? ST_SLOT(ST_SLOT_FD_NAME, 0)
             : i == 1 ? ST_SLOT(ST_SLOT_FD_NAME, 2) : ST_SLOT_NONE;
    case ST_KIND_SENDFILE: /* sendfile(out_fd, in_fd, offset, count): slot 0 is still the input */
        return i == 0 ? ST_SLOT(ST_SLOT_FD_NAME, 1)
             : i == 1 ? ST_SLOT(ST_SLOT_FD_NAME, 0) : ST_SLOT_NONE;
    default: /* fsmount(fs_fd, flags, attr_flags) has no string */
        return ST_SLOT_NONE;
    }
}

/* How many strings a record of `kind` carries (its `nstr`). */
ST_ABI_INLINE uint8_t st_string_count(uint32_t kind)
{
    uint8_t n = 0;
    for (uint32_t i = 0; i < ST_MAX_STRINGS; i++)
        if (st_string_slot(kind, i) != ST_SLOT_NONE)
            n++;
    return n;
}

/* Per-CPU loss counters kept in the `st_counters` map. */
enum st_counter {
    ST_COUNTER_RINGBUF_FULL = 0,   /* reserve/output into the ring buffer failed */
    ST_COUNTER_PENDING_FULL = 1,   /* no room to remember a syscall's entry */
    ST_COUNTER_EXIT_UNMATCHED = 2, /* exit seen without its entry (e.g. attached mid-call) */
    ST_COUNTER_STRING_FAULT = 3,   /* a user string could not be read */
    ST_COUNTER_PERFBUF_FULL = 4,   /* output into the perf buffer failed (perf-buffer mode) */
    ST_COUNTER_MAX = 5,
};

/* Identity of an open file: enough to find it again with `stat`. */
struct st_file_ref {
    uint64_t ino;       /* inode number */
    uint32_t dev;       /* superblock s_dev, kernel encoding: major << 20 | minor */
    uint32_t _pad;
};

/* Extra data some calls carry, chosen by kind. */
union st_event_detail {
    /* copy_file_range, splice, sendfile */
    struct {
        struct st_file_ref in;   /* the file read from */
        struct st_file_ref out;  /* the file written to */
        int64_t off_in;          /* *off_in at entry; valid if the pointer arg is non-NULL */
        int64_t off_out;         /* *off_out at entry (sendfile: *offset) */
    } copy;
    /* mount_setattr: struct mount_attr as passed, read at entry */
    struct {
        uint64_t attr_set;
        uint64_t attr_clr;
        uint64_t propagation;
        uint64_t userns_fd;
        uint64_t _unused[2];
    } mount_attr;
};

struct st_syscall_event {
    uint16_t kind;      /* enum st_kind */
    uint16_t size;      /* bytes of the whole record, header and strings */
    uint8_t  nstr;      /* strings following the header */
    uint8_t  truncated; /* bit i set: string i was cut at ST_STR_CAP */
    uint8_t  faulted;   /* bit i set: string i could not be read (bad pointer) */
    uint8_t  null;      /* bit i set: string i's pointer was NULL */
    uint32_t pid;       /* thread group id */
    uint32_t tid;       /* thread id */
    uint32_t uid;
    uint32_t mntns;     /* inode number of the caller's mount namespace */
    uint64_t cgroup_id;
    uint64_t ts_ns;     /* CLOCK_MONOTONIC at syscall entry */
    uint64_t latency_ns;/* exit minus entry */
    int64_t  ret;       /* raw return value; -errno on failure */
    uint64_t args[6];   /* the syscall's argument registers (unused ones are 0) */
    union st_event_detail detail;
    char     comm[16];
    uint16_t str_len[ST_MAX_STRINGS];
    /* followed by nstr strings of str_len[i] bytes each */
};

#define ST_EVENT_HEADER_SIZE 176

_Static_assert(sizeof(struct st_file_ref) == 16, "st_file_ref layout");
_Static_assert(sizeof(union st_event_detail) == 48, "st_event_detail layout");
_Static_assert(sizeof(struct st_syscall_event) == ST_EVENT_HEADER_SIZE, "st_syscall_event layout");
_Static_assert(__builtin_offsetof(struct st_syscall_event, pid) == 8, "pid offset");
_Static_assert(__builtin_offsetof(struct st_syscall_event, cgroup_id) == 24, "cgroup_id offset");
_Static_assert(__builtin_offsetof(struct st_syscall_event, ts_ns) == 32, "ts_ns offset");
_Static_assert(__builtin_offsetof(struct st_syscall_event, ret) == 48, "ret offset");
_Static_assert(__builtin_offsetof(struct st_syscall_event, args) == 56, "args offset");
_Static_assert(__builtin_offsetof(struct st_syscall_event, detail) == 104, "detail offset");
_Static_assert(__builtin_offsetof(struct st_syscall_event, comm) == 152, "comm offset");
_Static_assert(__builtin_offsetof(struct st_syscall_event, str_len) == 168, "str_len offset");

/* The largest record: header plus every string at its cap. */
#define ST_RECORD_MAX (ST_EVENT_HEADER_SIZE + ST_MAX_STRINGS * ST_STR_CAP)

/* An exclusive claim of a block device (bpf/storetrace_claim.bpf.c): the
 * return of bd_prepare_to_claim (Linux 5.10+; bd_start_claiming before), by
 * fexit or else kprobe + kretprobe. A separate object with its own ring
 * buffer (`st_claim_events`), so a kernel that refuses both leaves the
 * syscall tracer untouched. O_EXCL opens, mount and fsck claim this way, and
 * the kernel strips O_EXCL from f_flags: nothing in /proc shows the claim. */
enum st_claim_kind {
    ST_CLAIM_PREPARE = 1, /* bd_prepare_to_claim / bd_start_claiming returned */
    ST_CLAIM_KIND_MAX = 1,
};

/* Per-CPU loss counters of the `st_claim_counters` map. */
enum st_claim_counter {
    ST_CLAIM_COUNTER_RINGBUF_FULL = 0, /* output into st_claim_events failed */
    ST_CLAIM_COUNTER_PENDING_FULL = 1, /* kprobe path: no room to remember the entry */
    ST_CLAIM_COUNTER_MAX = 2,
};

struct st_claim_event {
    uint16_t kind;      /* enum st_claim_kind */
    uint16_t size;      /* bytes of the record: sizeof(struct st_claim_event) */
    uint32_t dev;       /* bdev->bd_dev, kernel encoding: major << 20 | minor */
    uint32_t pid;       /* thread group id of the claimer */
    uint32_t tid;       /* thread id */
    uint32_t mntns;     /* inode number of the claimer's mount namespace */
    uint32_t uid;
    uint64_t ts_ns;     /* CLOCK_MONOTONIC when the claim returned */
    uint64_t holder;    /* the holder cookie (an O_EXCL open's file, a mount's fs type...) */
    int64_t  ret;       /* 0, or -errno (-EBUSY: another holder has it) */
    char     comm[16];
};

#define ST_CLAIM_EVENT_SIZE 64

_Static_assert(sizeof(struct st_claim_event) == ST_CLAIM_EVENT_SIZE, "st_claim_event layout");
_Static_assert(__builtin_offsetof(struct st_claim_event, dev) == 4, "claim dev offset");
_Static_assert(__builtin_offsetof(struct st_claim_event, pid) == 8, "claim pid offset");
_Static_assert(__builtin_offsetof(struct st_claim_event, mntns) == 16, "claim mntns offset");
_Static_assert(__builtin_offsetof(struct st_claim_event, ts_ns) == 24, "claim ts_ns offset");
_Static_assert(__builtin_offsetof(struct st_claim_event, holder) == 32, "claim holder offset");
_Static_assert(__builtin_offsetof(struct st_claim_event, ret) == 40, "claim ret offset");
_Static_assert(__builtin_offsetof(struct st_claim_event, comm) == 48, "claim comm offset");

/* Settings of the claim object (`st_claim_settings` in its .rodata). */
struct st_claim_settings {
    /* 1: the traced function returns a pointer (bd_start_claiming, before
     * 5.10): an ERR_PTR is the error, anything else success (ret 0). */
    uint8_t ret_is_pointer;
    uint8_t _pad[7];
};

_Static_assert(sizeof(struct st_claim_settings) == 8, "st_claim_settings layout");

/* Settings the loader writes into the BPF object's read-only data before
 * load (`const volatile` globals in the BPF program). */
struct st_settings {
    uint32_t target_pid;   /* 0: every process */
    uint32_t exclude_pid;  /* never report this process (storetrace itself); 0: none */
    uint8_t  use_perfbuf;  /* 1: emit through the perf buffer, not the ring buffer */
    /* 1: keep each thread's pending call in task storage and read the task
     * through bpf_get_current_task_btf() (Linux 5.11+): plain loads instead
     * of a hash update, lookup and delete and three helper calls per walk.
     * 0: the hash map and bpf_probe_read_kernel, for older kernels. */
    uint8_t  use_task_btf;
    uint8_t  _pad[6];
    /* Ring-buffer wake-ups. Waking the reader costs the traced call an
     * irq_work (a self-IPI, a VM exit on a guest): on a syscall storm it was
     * a quarter of the workload's time. A CPU forces a wake-up only if it
     * sent none for wakeup_interval_ns, or once wakeup_bytes are waiting;
     * the reader drains the rest on a timer (SyscallTracer.drainInterval).
     * 0: the kernel's default, a wake-up whenever the reader has caught up. */
    uint64_t wakeup_interval_ns;
    uint64_t wakeup_bytes;
};

_Static_assert(sizeof(struct st_settings) == 32, "st_settings layout");

#endif /* STORETRACE_ABI_H */
