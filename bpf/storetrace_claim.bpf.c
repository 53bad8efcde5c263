// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* storetrace_claim.bpf.c: exclusive claims of block devices.
 *
 * An O_EXCL open of a block device, a mount and fsck claim it through
 * bd_prepare_to_claim (bd_start_claiming before Linux 5.10); a second
 * claimer gets -EBUSY. The kernel strips O_EXCL from f_flags, so user space
 * cannot see who holds the claim: only this can. One record per return
 * (struct st_claim_event), into a ring buffer of its own.
 *
 * Two ways in, chosen by the loader (ClaimTracer): fexit, which sees the
 * arguments and the return value in one program (bpf_get_func_arg and
 * bpf_get_func_ret, Linux 5.17+, so the function's arity does not matter),
 * or a kprobe that remembers the arguments per thread and a kretprobe that
 * emits. The attach target is set by the loader; the names in SEC() are
 * placeholders. A separate object from storetrace.bpf.o: a kernel that
 * refuses both leaves the syscall tracer untouched.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

typedef __u8 uint8_t;
typedef __u16 uint16_t;
typedef __u32 uint32_t;
typedef __u64 uint64_t;
typedef __s64 int64_t;

#include "storetrace_abi.h"
#include "st_kernel.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile struct st_claim_settings st_claim_settings = {};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 << 10); /* claims are rare: a mount, an fsck */
} st_claim_events SEC(".maps");

/* kprobe path: the arguments by thread until the kretprobe. */
struct st_claim_entry {
    __u64 bdev;
    __u64 holder;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);
    __type(value, struct st_claim_entry);
} st_claim_pending SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, ST_CLAIM_COUNTER_MAX);
    __type(key, __u32);
    __type(value, __u64);
} st_claim_counters SEC(".maps");

static __always_inline void count(enum st_claim_counter which)
{
    __u32 key = which;
    __u64 *value = bpf_map_lookup_elem(&st_claim_counters, &key);
    if (value)
        *value += 1;
}

/* The raw return register as the ABI's ret: an int's -errno, or for a
 * pointer-returning bd_start_claiming, its ERR_PTR (else 0). */
static __always_inline __s64 claim_result(__u64 raw)
{
    if (st_claim_settings.ret_is_pointer)
        return raw >= (__u64)-4095 ? (__s64)raw : 0;
    return (__s64)(int)raw;
}

static __always_inline void emit(__u64 bdev, __u64 holder, __u64 raw_ret)
{
    struct st_claim_event *e = bpf_ringbuf_reserve(&st_claim_events, sizeof(*e), 0);
    if (!e) {
        count(ST_CLAIM_COUNTER_RINGBUF_FULL);
        return;
    }
    __u64 id = bpf_get_current_pid_tgid();
    e->kind = ST_CLAIM_PREPARE;
    e->size = sizeof(*e);
    e->dev = bdev ? BPF_CORE_READ((struct block_device *)bdev, bd_dev) : 0;
    e->pid = id >> 32;
    e->tid = (__u32)id;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    e->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
    e->uid = (__u32)bpf_get_current_uid_gid();
    e->ts_ns = bpf_ktime_get_ns();
    e->holder = holder;
    e->ret = claim_result(raw_ret);
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    bpf_ringbuf_submit(e, 0);
}

SEC("fexit/bd_prepare_to_claim")
int st_claim_fexit(__u64 *ctx)
{
    __u64 bdev = 0, holder = 0, ret = 0;
    bpf_get_func_arg(ctx, 0, &bdev);
    bpf_get_func_arg(ctx, 1, &holder);
    bpf_get_func_ret(ctx, &ret);
    emit(bdev, holder, ret);
    return 0;
}

SEC("kprobe/bd_prepare_to_claim")
int st_claim_kprobe(struct pt_regs *ctx)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct st_claim_entry entry = {
        .bdev = (__u64)PT_REGS_PARM1(ctx),
        .holder = (__u64)PT_REGS_PARM2(ctx),
    };
    if (bpf_map_update_elem(&st_claim_pending, &tid, &entry, BPF_ANY) != 0)
        count(ST_CLAIM_COUNTER_PENDING_FULL);
    return 0;
}

SEC("kretprobe/bd_prepare_to_claim")
int st_claim_kretprobe(struct pt_regs *ctx)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct st_claim_entry *entry = bpf_map_lookup_elem(&st_claim_pending, &tid);
    if (!entry)
        return 0;
    __u64 bdev = entry->bdev, holder = entry->holder;
    bpf_map_delete_elem(&st_claim_pending, &tid);
    emit(bdev, holder, (__u64)PT_REGS_RC(ctx));
    return 0;
}
