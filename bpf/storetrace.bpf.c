// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* storetrace.bpf.c: syscall tracepoints for the mount family and for
 * copy_file_range with its io.Copy fallbacks (splice, sendfile).
 *
 * Each traced call becomes one record: the entry handler remembers the
 * arguments and the time per thread; the exit handler reads the strings
 * (the caller is still blocked in the syscall, so its memory is intact),
 * builds the record in a per-CPU scratch buffer and emits exactly as many
 * bytes as it needs. Every record that cannot be emitted is counted.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

typedef __u8 uint8_t;
typedef __u16 uint16_t;
typedef __u32 uint32_t;
typedef __u64 uint64_t;
typedef __s64 int64_t;

#include "storetrace_abi.h"
#include "st_kernel.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* bpf_rdonly_cast (a kfunc, Linux 6.2+) makes a kernel address a read-only
 * BTF pointer: its fields are then plain loads, a fault reading as zero as
 * with a helper, instead of one bpf_probe_read_kernel call each. Weak, so
 * that libbpf (Debian 12's 1.1.2 too) opens this object on kernels without
 * it; only the st_exit_*_plain programs call it, and SyscallTracer loads
 * them first and falls back to the helper-read programs if the kernel
 * refuses them (before 6.2 a kfunc call in a tracepoint program does not
 * load). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* Settings written by the loader before load; the verifier sees them as
 * constants, so disabled paths are removed. */
const volatile struct st_settings st_settings = {};

/* Scratch big enough for a header plus four strings at their cap. String
 * offsets are masked with ST_SCRATCH_MASK so the verifier can bound every
 * write: mask + one string read (cap + NUL) must stay inside the buffer. */
#define ST_SCRATCH_MASK 0x3fff
#define ST_SCRATCH_SIZE 24576
_Static_assert(ST_EVENT_HEADER_SIZE + (ST_MAX_STRINGS - 1) * ST_STR_CAP <= ST_SCRATCH_MASK,
               "string offsets fit the mask");
_Static_assert(ST_SCRATCH_MASK + ST_STR_CAP + 1 <= ST_SCRATCH_SIZE, "masked writes fit");
_Static_assert(ST_RECORD_MAX <= ST_SCRATCH_SIZE, "records fit the scratch");

struct st_scratch { __u8 buf[ST_SCRATCH_SIZE]; };

/* What the entry handler leaves for the exit handler. */
struct st_pending {
    __u64 ts_ns;
    __u64 args[6];
    union st_event_detail detail; /* values that must be read at entry */
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 8 << 20); /* resized by the loader (--buffer-size) */
} st_events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
} st_perf_events SEC(".maps");

/* Pending calls by thread: task storage where the kernel has it (the
 * loader leaves the other map uncreated), else a hash keyed by thread id. */
struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct st_pending);
} st_task_pending SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __type(value, struct st_pending);
} st_pending SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct st_scratch);
} st_scratch SEC(".maps");

/* Per CPU: when this CPU last forced a ring-buffer wake-up (ktime ns). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} st_last_wakeup SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, ST_COUNTER_MAX);
    __type(key, __u32);
    __type(value, __u64);
} st_counters SEC(".maps");

/* The tracepoint records of syscalls:sys_enter_* and sys_exit_* (see
 * events/syscalls/sys_enter_mount/format): 8 bytes of common fields, the
 * syscall number padded to 8, then the arguments or the return value. Only
 * the arguments a syscall has may be read: the kernel refuses to attach a
 * program that reads past its tracepoint's record. */
struct st_sys_enter { __u64 common; __s32 nr; __u32 pad; __u64 args[6]; };
struct st_sys_exit { __u64 common; __s32 nr; __u32 pad; __s64 ret; };

static __always_inline void count(enum st_counter which)
{
    __u32 key = which;
    __u64 *value = bpf_map_lookup_elem(&st_counters, &key);
    if (value)
        *value += 1; /* per-CPU: no atomics needed */
}

static __always_inline int wanted(__u32 tgid)
{
    if (st_settings.exclude_pid && st_settings.exclude_pid == tgid)
        return 0;
    return st_settings.target_pid == 0 || st_settings.target_pid == tgid;
}

/* Flags for bpf_ringbuf_output: wake the reader only when this CPU has not
 * for wakeup_interval_ns, or when the ring is filling up (see st_settings). */
static __always_inline __u64 wakeup_flags(__u64 now)
{
    if (st_settings.wakeup_interval_ns == 0)
        return 0;
    __u32 zero = 0;
    __u64 *last = bpf_map_lookup_elem(&st_last_wakeup, &zero);
    if (!last)
        return 0;
    if (now - *last >= st_settings.wakeup_interval_ns ||
        bpf_ringbuf_query(&st_events, BPF_RB_AVAIL_DATA) >= st_settings.wakeup_bytes) {
        *last = now;
        return BPF_RB_FORCE_WAKEUP;
    }
    return BPF_RB_NO_WAKEUP;
}

static __always_inline __s64 read_user_loff(__u64 uptr)
{
    __s64 value = 0;
    if (uptr)
        bpf_probe_read_user(&value, sizeof(value), (void *)uptr);
    return value;
}

/* Fills `p` at syscall entry: time, arguments, and what the call will overwrite. */
static __always_inline void fill_pending(struct st_pending *p, struct st_sys_enter *ctx, int nargs,
                                         enum st_kind kind)
{
    p->ts_ns = bpf_ktime_get_ns();
#pragma unroll
    for (int i = 0; i < 6; i++)
        p->args[i] = i < nargs ? ctx->args[i] : 0;
    __builtin_memset(&p->detail, 0, sizeof(p->detail));

    /* Values the call will overwrite: the copy offsets advance, so read
     * them now; mount_setattr's attributes are only valid at entry. */
    switch (kind) {
    case ST_KIND_COPY_FILE_RANGE:
    case ST_KIND_SPLICE:
        p->detail.copy.off_in = read_user_loff(p->args[1]);
        p->detail.copy.off_out = read_user_loff(p->args[3]);
        break;
    case ST_KIND_SENDFILE:
        p->detail.copy.off_in = read_user_loff(p->args[2]);
        break;
    case ST_KIND_MOUNT_SETATTR:
        if (p->args[3] && p->args[4] >= 24) {
            __u64 attr[4] = {};
            bpf_probe_read_user(attr, p->args[4] >= 32 ? 32 : 24, (void *)p->args[3]);
            p->detail.mount_attr.attr_set = attr[0];
            p->detail.mount_attr.attr_clr = attr[1];
            p->detail.mount_attr.propagation = attr[2];
            p->detail.mount_attr.userns_fd = attr[3];
        }
        break;
    default:
        break;
    }
}

#define ST_AT_REMOVEDIR 0x200
#define ST_EBUSY 16

/* rmdir and unlinkat(AT_REMOVEDIR) are traced for their EBUSY failures only. */
static __always_inline int failures_only(enum st_kind kind)
{
    return kind == ST_KIND_RMDIR || kind == ST_KIND_UNLINKAT;
}

static __always_inline int on_enter(struct st_sys_enter *ctx, int nargs, enum st_kind kind)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id;
    if (!wanted(id >> 32))
        return 0;
    /* unlinkat of a file: not a directory removal, nothing to remember. */
    if (kind == ST_KIND_UNLINKAT && !(ctx->args[2] & ST_AT_REMOVEDIR))
        return 0;

    if (st_settings.use_task_btf) {
        struct st_pending *slot = bpf_task_storage_get(&st_task_pending, bpf_get_current_task_btf(), 0,
                                                       BPF_LOCAL_STORAGE_GET_F_CREATE);
        if (!slot) { /* no memory, or storage busy in a nested program */
            count(ST_COUNTER_PENDING_FULL);
            return 0;
        }
        fill_pending(slot, ctx, nargs, kind);
        return 0;
    }
    struct st_pending p;
    fill_pending(&p, ctx, nargs, kind);
    if (bpf_map_update_elem(&st_pending, &tid, &p, BPF_ANY) != 0)
        count(ST_COUNTER_PENDING_FULL);
    return 0;
}

/* Append string `slot` read from user memory at `uptr`; returns the new end. */
static __always_inline __u32 put_user_str(struct st_syscall_event *e, __u8 *buf, __u32 off,
                                          int slot, __u64 uptr)
{
    e->str_len[slot] = 0;
    if (!uptr) {
        e->null |= 1 << slot;
        return off;
    }
    long n = bpf_probe_read_user_str(buf + (off & ST_SCRATCH_MASK), ST_STR_CAP + 1, (void *)uptr);
    if (n <= 0) {
        e->faulted |= 1 << slot;
        count(ST_COUNTER_STRING_FAULT);
        return off;
    }
    if (n > ST_STR_CAP) { /* cap + NUL copied: the string went on */
        e->truncated |= 1 << slot;
        n = ST_STR_CAP + 1;
    }
    e->str_len[slot] = n - 1;
    return off + (n - 1);
}

/* Append the last path component of an open file (its dentry name); plain:
 * `f` is a BTF pointer (fd_file_plain), the pointer walk is plain loads. */
static __always_inline __u32 put_file_name(struct st_syscall_event *e, __u8 *buf, __u32 off,
                                           int slot, struct file *f, int plain)
{
    e->str_len[slot] = 0;
    if (!f) {
        e->null |= 1 << slot;
        return off;
    }
    const unsigned char *name = plain ? f->f_path.dentry->d_name.name : BPF_CORE_READ(f, f_path.dentry, d_name.name);
    long n = bpf_probe_read_kernel_str(buf + (off & ST_SCRATCH_MASK), 256, name);
    if (n <= 0) {
        e->faulted |= 1 << slot;
        return off;
    }
    if (n >= 256) {
        e->truncated |= 1 << slot;
        n = 256;
    }
    e->str_len[slot] = n - 1;
    return off + (n - 1);
}

/* The caller's descriptor table, read once for both files of a copy: every
 * kernel read is a helper call the traced syscall pays for. */
struct st_fd_table {
    struct file **fds;
    __u32 max_fds;
};

static __always_inline void fd_table(struct task_struct *task, struct st_fd_table *table)
{
    table->fds = NULL;
    table->max_fds = 0;
    if (st_settings.use_task_btf) {
        /* A BTF pointer: plain loads, faults caught by the kernel. */
        struct fdtable *fdt = task->files->fdt;
        if (!fdt)
            return;
        table->max_fds = fdt->max_fds;
        table->fds = fdt->fd;
        return;
    }
    struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
    if (!fdt)
        return;
    table->max_fds = BPF_CORE_READ(fdt, max_fds);
    table->fds = BPF_CORE_READ(fdt, fd);
}

static __always_inline struct file *fd_file(const struct st_fd_table *table, __u64 fd)
{
    struct file *f = NULL;
    if (table->fds && fd < table->max_fds)
        bpf_probe_read_kernel(&f, sizeof(f), &table->fds[fd]);
    return f;
}

/* The same slot through a BTF pointer (the _plain programs): `fdt->fd` is
 * a `struct file **`, which BTF hands over as a plain number, so the slot is
 * cast as element 0 of a files_struct's fd_array (the same type, an array
 * of `struct file *`) laid over it. The file that comes out is a BTF
 * pointer too: file_ref_plain and put_file_name_plain load from it. */
static __always_inline struct file *fd_file_plain(const struct st_fd_table *table, __u64 fd)
{
    if (!table->fds || fd >= table->max_fds)
        return NULL;
    unsigned long slot = (unsigned long)&table->fds[fd];
    struct files_struct *over = bpf_rdonly_cast((void *)(slot - bpf_core_field_offset(struct files_struct, fd_array)),
                                                bpf_core_type_id_kernel(struct files_struct));
    return over->fd_array[0];
}

static __always_inline void file_ref_plain(struct file *f, struct st_file_ref *ref)
{
    if (!f)
        return;
    struct inode *inode = f->f_inode;
    if (!inode)
        return;
    ref->ino = inode->i_ino;
    ref->dev = inode->i_sb->s_dev;
}

static __always_inline void file_ref(struct file *f, struct st_file_ref *ref)
{
    if (!f)
        return;
    struct inode *inode = BPF_CORE_READ(f, f_inode);
    if (!inode)
        return;
    ref->ino = BPF_CORE_READ(inode, i_ino);
    ref->dev = BPF_CORE_READ(inode, i_sb, s_dev);
}

/* The NUL bytes of a little-endian word, as each one's top bit: exact for
 * the first NUL (a borrow can only mark bytes above it). */
static __always_inline __u64 nul_bytes(__u64 word)
{
    return (word - 0x0101010101010101ULL) & ~word & 0x8080808080808080ULL;
}

/* `word` up to its first NUL, the bytes from it on zeroed. */
static __always_inline __u64 before_nul(__u64 word)
{
    __u64 nul = nul_bytes(word);
    return nul ? word & (((nul & -nul) >> 7) - 1) : word;
}

/* The task's name as bpf_get_current_comm() gives it (the string, NUL,
 * zeros to 16 bytes; byte 15 always NUL), from two plain loads instead of
 * a helper call that copies it byte by byte. */
static __always_inline void current_comm(struct task_struct *task, char *comm)
{
    _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "nul_bytes reads little-endian words");
    __u64 low = *(__u64 *)&task->comm[0];
    __u64 high = *(__u64 *)&task->comm[8];
    if (nul_bytes(low)) {
        low = before_nul(low);
        high = 0;
    } else {
        high = before_nul(high & 0x00ffffffffffffffULL);
    }
    __builtin_memcpy(comm, &low, 8);
    __builtin_memcpy(comm + 8, &high, 8);
}

/* The exit consumed the entry: task storage stays allocated with the task
 * (marked used), the hash entry is deleted. */
static __always_inline void forget_pending(struct st_pending *p, __u32 tid)
{
    if (st_settings.use_task_btf)
        p->ts_ns = 0;
    else
        bpf_map_delete_elem(&st_pending, &tid);
}

/* plain (a constant per program): the _plain programs, which read the open
 * files through bpf_rdonly_cast (Linux 6.2+; task storage too). */
static __always_inline int on_exit(struct st_sys_exit *ctx, enum st_kind kind, int plain)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id;
    if (!wanted(id >> 32))
        return 0;

    /* The caller's task, got once: a BTF pointer where the kernel has them
     * (use_task_btf: its fields are plain loads), else an address that
     * BPF_CORE_READ reads through helper calls. */
    struct task_struct *task = st_settings.use_task_btf ? bpf_get_current_task_btf()
                                                        : (struct task_struct *)bpf_get_current_task();
    struct st_pending *p;
    if (st_settings.use_task_btf)
        p = bpf_task_storage_get(&st_task_pending, task, 0, 0);
    else
        p = bpf_map_lookup_elem(&st_pending, &tid);
    if (failures_only(kind)) {
        /* No entry: an unlinkat of a file, skipped at entry on purpose. */
        if (!p || p->ts_ns == 0)
            return 0;
        if (ctx->ret != -ST_EBUSY) {
            forget_pending(p, tid);
            return 0;
        }
    }
    if (!p || p->ts_ns == 0) { /* ts_ns 0: this thread's slot was already used */
        count(ST_COUNTER_EXIT_UNMATCHED);
        return 0;
    }
    __u32 zero = 0;
    struct st_scratch *scratch = bpf_map_lookup_elem(&st_scratch, &zero);
    if (!scratch) {
        forget_pending(p, tid);
        return 0;
    }
    __u8 *buf = scratch->buf;
    struct st_syscall_event *e = (void *)buf;
    __u64 now = bpf_ktime_get_ns();

    e->kind = kind;
    e->nstr = 0;
    e->truncated = 0;
    e->faulted = 0;
    e->null = 0;
    /* The scratch buffer is reused: every length must be written, even for
     * strings this kind does not have. */
#pragma unroll
    for (int i = 0; i < ST_MAX_STRINGS; i++)
        e->str_len[i] = 0;
    e->pid = id >> 32;
    e->tid = tid;
    e->ts_ns = p->ts_ns;
    e->latency_ns = now - p->ts_ns;
    e->ret = ctx->ret;
#pragma unroll
    for (int i = 0; i < 6; i++)
        e->args[i] = p->args[i];
    __builtin_memcpy(&e->detail, &p->detail, sizeof(e->detail));
    forget_pending(p, tid);

    if (plain && st_settings.use_task_btf) {
        /* What the helpers read, read directly: the same values. Only in
         * the _plain programs (the copy calls, a storm's rate): the verifier
         * looks up a type by name for each BTF pointer load (linear in the
         * kernel's BTF), 7 ms of start-up had every program done this, and
         * the mount family's rate does not need it (BENCHMARKS.md). */
        e->uid = task->cred->uid.val; /* bpf_get_current_uid_gid: from_kuid(&init_user_ns), the identity */
        e->cgroup_id = task->cgroups->dfl_cgrp->kn->id; /* bpf_get_current_cgroup_id */
        current_comm(task, e->comm);
        e->mntns = task->nsproxy->mnt_ns->ns.inum;
    } else {
        e->uid = (__u32)bpf_get_current_uid_gid();
        e->cgroup_id = bpf_get_current_cgroup_id();
        bpf_get_current_comm(e->comm, sizeof(e->comm));
        e->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
    }

    /* Which argument each string is read from: st_string_slot in
     * storetrace_abi.h, the definition SyscallDescription is tested against.
     * kind is a constant in every program, so the lookups fold away. */
    __u32 off = ST_EVENT_HEADER_SIZE;
    e->nstr = st_string_count(kind);
    switch (kind) {
    case ST_KIND_FSCONFIG: { /* key, value (when it is a string or a path) */
        off = put_user_str(e, buf, off, 0, e->args[ST_SLOT_ARG(st_string_slot(kind, 0))]);
        if (ST_FSCONFIG_CMD_HAS_STRING(e->args[1]))
            off = put_user_str(e, buf, off, 1, e->args[ST_SLOT_ARG(st_string_slot(kind, 1))]);
        else
            e->null |= 1 << 1;
        break;
    }
    case ST_KIND_COPY_FILE_RANGE:
    case ST_KIND_SPLICE:
    case ST_KIND_SENDFILE: { /* in file name, out file name */
        struct st_fd_table table;
        fd_table(task, &table);
        __u64 fd_in = e->args[ST_SLOT_ARG(st_string_slot(kind, 0))];
        __u64 fd_out = e->args[ST_SLOT_ARG(st_string_slot(kind, 1))];
        struct file *in, *out;
        if (plain) {
            in = fd_file_plain(&table, fd_in);
            out = fd_file_plain(&table, fd_out);
            file_ref_plain(in, &e->detail.copy.in);
            file_ref_plain(out, &e->detail.copy.out);
        } else {
            in = fd_file(&table, fd_in);
            out = fd_file(&table, fd_out);
            file_ref(in, &e->detail.copy.in);
            file_ref(out, &e->detail.copy.out);
        }
        off = put_file_name(e, buf, off, 0, in, plain);
        off = put_file_name(e, buf, off, 1, out, plain);
        break;
    }
    default: /* every other string is a user string read from its argument */
#pragma unroll
        for (int i = 0; i < ST_MAX_STRINGS; i++) {
            __u8 slot = st_string_slot(kind, i);
            if (ST_SLOT_SOURCE(slot) == ST_SLOT_USER_STR)
                off = put_user_str(e, buf, off, i, e->args[ST_SLOT_ARG(slot)]);
        }
        break;
    }

    if (off > ST_RECORD_MAX)
        return 0; /* cannot happen: each string is capped */
    e->size = off;

    long err;
    if (st_settings.use_perfbuf)
        err = bpf_perf_event_output(ctx, &st_perf_events, BPF_F_CURRENT_CPU, buf, off);
    else
        err = bpf_ringbuf_output(&st_events, buf, off, wakeup_flags(now));
    /* Each failed output counted once, by the buffer it failed in. The perf
     * buffer's lost-sample records report the same failures again, later
     * (only once that CPU's buffer has room): user space keeps those apart. */
    if (err)
        count(st_settings.use_perfbuf ? ST_COUNTER_PERFBUF_FULL : ST_COUNTER_RINGBUF_FULL);
    return 0;
}

#define ST_TRACE(name, nargs, kind)                                        \
    SEC("tracepoint/syscalls/sys_enter_" #name)                            \
    int st_enter_##name(struct st_sys_enter *ctx) { return on_enter(ctx, nargs, kind); } \
    SEC("tracepoint/syscalls/sys_exit_" #name)                             \
    int st_exit_##name(struct st_sys_exit *ctx) { return on_exit(ctx, kind, 0); }

/* The calls that read open files also have an exit program that reads them
 * with plain loads; SyscallTracer loads one of the two. */
#define ST_TRACE_FILES(name, nargs, kind)                                  \
    ST_TRACE(name, nargs, kind)                                            \
    SEC("tracepoint/syscalls/sys_exit_" #name)                             \
    int st_exit_##name##_plain(struct st_sys_exit *ctx) { return on_exit(ctx, kind, 1); }

ST_TRACE(mount, 5, ST_KIND_MOUNT)
ST_TRACE(umount, 2, ST_KIND_UMOUNT)
ST_TRACE(fsopen, 2, ST_KIND_FSOPEN)
ST_TRACE(fsconfig, 5, ST_KIND_FSCONFIG)
ST_TRACE(fsmount, 3, ST_KIND_FSMOUNT)
ST_TRACE(move_mount, 5, ST_KIND_MOVE_MOUNT)
ST_TRACE(open_tree, 3, ST_KIND_OPEN_TREE)
ST_TRACE(mount_setattr, 5, ST_KIND_MOUNT_SETATTR)
ST_TRACE(fspick, 3, ST_KIND_FSPICK)
ST_TRACE_FILES(copy_file_range, 6, ST_KIND_COPY_FILE_RANGE)
ST_TRACE_FILES(splice, 6, ST_KIND_SPLICE)
ST_TRACE_FILES(sendfile64, 4, ST_KIND_SENDFILE)
ST_TRACE(rmdir, 1, ST_KIND_RMDIR)
ST_TRACE(unlinkat, 3, ST_KIND_UNLINKAT)
