#define _GNU_SOURCE
#include <sys/vfs.h>
#include "storetrace_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <malloc.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <termios.h>
#include <unistd.h>

#ifndef SYS_fsopen
#define SYS_open_tree 428
#define SYS_move_mount 429
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#define SYS_fspick 433
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

int st_fsopen(const char *fs_name, unsigned int flags)
{
    return (int)syscall(SYS_fsopen, fs_name, flags);
}

int st_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{
    return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}

int st_fsmount(int fs_fd, unsigned int flags, unsigned int attr_flags)
{
    return (int)syscall(SYS_fsmount, fs_fd, flags, attr_flags);
}

int st_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path,
                  unsigned int flags)
{
    return (int)syscall(SYS_move_mount, from_dfd, from_path, to_dfd, to_path, flags);
}

int st_open_tree(int dfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dfd, path, flags);
}

int st_fspick(int dfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_fspick, dfd, path, flags);
}

/* struct mount_attr from <linux/mount.h>, declared here because that header
 * conflicts with glibc's <sys/mount.h>. */
struct st_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

int st_mount_setattr(int dfd, const char *path, unsigned int flags, uint64_t attr_set,
                     uint64_t attr_clr, uint64_t propagation)
{
    struct st_mount_attr attr = { attr_set, attr_clr, propagation, 0 };
    return (int)syscall(SYS_mount_setattr, dfd, path, flags, &attr, sizeof(attr));
}

int st_gettid(void)
{
    return (int)syscall(SYS_gettid);
}

int st_effective_caps(uint64_t *caps)
{
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2] = { { 0 } };
    if (syscall(SYS_capget, &header, data) != 0)
        return -1;
    *caps = ((uint64_t)data[1].effective << 32) | data[0].effective;
    return 0;
}

long st_copy_file_range(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len,
                        unsigned int flags)
{
    return copy_file_range(fd_in, (off64_t *)off_in, fd_out, (off64_t *)off_out, len, flags);
}

long st_splice(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len,
               unsigned int flags)
{
    return splice(fd_in, (off64_t *)off_in, fd_out, (off64_t *)off_out, len, flags);
}

unsigned int st_dev_major(uint64_t dev)
{
    return major(dev);
}

unsigned int st_dev_minor(uint64_t dev)
{
    return minor(dev);
}

int st_tgkill(int tgid, int tid, int sig)
{
    return (int)syscall(SYS_tgkill, tgid, tid, sig);
}

int st_fs_magic(const char *path, unsigned long *magic)
{
    struct statfs info;
    if (statfs(path, &info) != 0)
        return -1;
    *magic = (unsigned long)info.f_type;
    return 0;
}

int st_file_brief(int dirfd, const char *path, int follow, struct st_file_brief *out)
{
    struct statx buffer;
    int flags = follow ? 0 : AT_SYMLINK_NOFOLLOW;
    if (statx(dirfd, path, flags, STATX_TYPE | STATX_INO | STATX_MNT_ID, &buffer) != 0)
        return -1;
    out->mnt_id = buffer.stx_mnt_id;
    out->has_mnt_id = (buffer.stx_mask & STATX_MNT_ID) != 0;
    out->ino = buffer.stx_ino;
    out->mode = buffer.stx_mode;
    out->dev_major = buffer.stx_dev_major;
    out->dev_minor = buffer.stx_dev_minor;
    out->rdev_major = buffer.stx_rdev_major;
    out->rdev_minor = buffer.stx_rdev_minor;
    return 0;
}

/* <linux/nsfs.h> and <linux/mount.h> of 6.12; Debian 12's headers predate them. */
struct st_mnt_ns_info {
    uint32_t size;
    uint32_t nr_mounts;
    uint64_t mnt_ns_id;
};
#define ST_NS_MNT_GET_INFO _IOR(0xb7, 10, struct st_mnt_ns_info)
#define ST_NS_MNT_GET_NEXT _IOR(0xb7, 11, struct st_mnt_ns_info)
#define ST_NS_MNT_GET_PREV _IOR(0xb7, 12, struct st_mnt_ns_info)

struct st_mnt_id_req {
    uint32_t size;
    uint32_t spare;
    uint64_t mnt_id;
    uint64_t param;
    uint64_t mnt_ns_id;
};
#define ST_LSMT_ROOT 0xffffffffffffffffULL
#ifndef SYS_statmount
#define SYS_statmount 457
#endif
#ifndef SYS_listmount
#define SYS_listmount 458
#endif
#define ST_STATMOUNT_SB_BASIC 0x1
#define ST_STATMOUNT_MNT_BASIC 0x2
#define ST_STATMOUNT_MNT_ROOT 0x8
#define ST_STATMOUNT_MNT_POINT 0x10
#define ST_STATMOUNT_FS_TYPE 0x20

/* struct statmount as of 6.8: the fields used here never moved; later
 * kernels fill the spare words but keep the size (512). */
struct st_statmount {
    uint32_t size;
    uint32_t spare1;
    uint64_t mask;
    uint32_t sb_dev_major;
    uint32_t sb_dev_minor;
    uint64_t sb_magic;
    uint32_t sb_flags;
    uint32_t fs_type;
    uint64_t mnt_id;
    uint64_t mnt_parent_id;
    uint32_t mnt_id_old;
    uint32_t mnt_parent_id_old;
    uint64_t mnt_attr;
    uint64_t mnt_propagation;
    uint64_t mnt_peer_group;
    uint64_t mnt_master;
    uint64_t propagate_from;
    uint32_t mnt_root;
    uint32_t mnt_point;
    uint64_t spare2[50];
    char str[];
};
_Static_assert(sizeof(struct st_statmount) == 512, "struct statmount is 512 bytes");

int st_mntns_id(int ns_fd, uint64_t *ns_id)
{
    struct st_mnt_ns_info info = { sizeof(info), 0, 0 };
    if (ioctl(ns_fd, ST_NS_MNT_GET_INFO, &info) != 0)
        return -1;
    *ns_id = info.mnt_ns_id;
    return 0;
}

int st_mntns_step(int ns_fd, int newer)
{
    struct st_mnt_ns_info info = { sizeof(info), 0, 0 };
    return ioctl(ns_fd, newer ? ST_NS_MNT_GET_NEXT : ST_NS_MNT_GET_PREV, &info);
}

long st_listmount(uint64_t ns_id, uint64_t *ids, size_t capacity)
{
    struct st_mnt_id_req request = { sizeof(request), 0, ST_LSMT_ROOT, 0, ns_id };
    return syscall(SYS_listmount, &request, ids, capacity, 0);
}

int st_statmount(uint64_t unique_id, uint64_t ns_id, struct st_mount_brief *out, char *strings, size_t capacity)
{
    char buffer[8192] __attribute__((aligned(8)));
    struct st_statmount *info = (struct st_statmount *)buffer;
    struct st_mnt_id_req request = {
        sizeof(request), 0, unique_id,
        ST_STATMOUNT_SB_BASIC | ST_STATMOUNT_MNT_BASIC | ST_STATMOUNT_MNT_ROOT | ST_STATMOUNT_MNT_POINT
            | ST_STATMOUNT_FS_TYPE,
        ns_id,
    };
    if (syscall(SYS_statmount, &request, info, sizeof(buffer), 0) != 0)
        return -1;
    if (info->size < sizeof(*info) || info->size > sizeof(buffer)) {
        errno = EOVERFLOW;
        return -1;
    }
    uint64_t needed = ST_STATMOUNT_SB_BASIC | ST_STATMOUNT_MNT_BASIC | ST_STATMOUNT_MNT_ROOT | ST_STATMOUNT_MNT_POINT;
    if ((info->mask & needed) != needed) {
        errno = ENODATA;
        return -1;
    }
    size_t length = info->size - sizeof(*info);
    if (length + 1 > capacity) {
        errno = ERANGE;
        return -1;
    }
    memcpy(strings, info->str, length);
    strings[length] = 0;
    out->mnt_id = info->mnt_id_old;
    out->parent_id = info->mnt_parent_id_old;
    out->dev_major = info->sb_dev_major;
    out->dev_minor = info->sb_dev_minor;
    out->propagation = info->mnt_propagation;
    out->peer_group = info->mnt_peer_group;
    out->master = info->mnt_master;
    out->root_offset = info->mnt_root;
    out->point_offset = info->mnt_point;
    out->fstype_offset = (info->mask & ST_STATMOUNT_FS_TYPE) ? info->fs_type : UINT32_MAX;
    out->strings_length = (uint32_t)length;
    return 0;
}

int st_clock_sync(int *synchronized, long *max_error_us, long *est_error_us) {
    struct timex state;
    memset(&state, 0, sizeof(state)); /* modes 0: read only */
    int result = adjtimex(&state);
    if (result < 0) return -1;
    *synchronized = !(state.status & STA_UNSYNC) && result != TIME_ERROR;
    *max_error_us = state.maxerror;
    *est_error_us = state.esterror;
    return 0;
}

/* The terminal of `storetrace top` (storetrace_sys.h). */
static struct {
    volatile sig_atomic_t active;
    int in_fd, out_fd, raw;
    struct termios saved;
    char leave[256];
    size_t leave_length;
    struct sigaction before[32];
} st_terminal;

static const int st_terminal_crash_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP };

static void st_terminal_write_all(int fd, const char *bytes, size_t length) {
    while (length > 0) {
        ssize_t written = write(fd, bytes, length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;
        bytes += written;
        length -= (size_t)written;
    }
}

static void st_terminal_crashed(int signal_number) {
    int saved_errno = errno;
    st_terminal_leave();
    /* The handler that was there before gets the signal once this returns
     * (it is blocked while this runs); a fault happens again and reaches it. */
    sigaction(signal_number, &st_terminal.before[signal_number], NULL);
    raise(signal_number);
    errno = saved_errno;
}

int st_terminal_enter(int in_fd, int out_fd, const char *enter, size_t enter_length,
                      const char *leave, size_t leave_length) {
    if (st_terminal.active || leave_length > sizeof(st_terminal.leave)) {
        errno = EINVAL;
        return -1;
    }
    st_terminal.raw = 0;
    if (in_fd >= 0) {
        if (tcgetattr(in_fd, &st_terminal.saved) != 0) return -1;
        struct termios raw = st_terminal.saved;
        raw.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INLCR | IGNCR | INPCK | ISTRIP | IXON);
        raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
        raw.c_cflag |= CS8;
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        if (tcsetattr(in_fd, TCSAFLUSH, &raw) != 0) return -1;
        st_terminal.raw = 1;
    }
    st_terminal.in_fd = in_fd;
    st_terminal.out_fd = out_fd;
    memcpy(st_terminal.leave, leave, leave_length);
    st_terminal.leave_length = leave_length;
    for (size_t i = 0; i < sizeof(st_terminal_crash_signals) / sizeof(st_terminal_crash_signals[0]); i++) {
        int number = st_terminal_crash_signals[i];
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_handler = st_terminal_crashed;
        sigemptyset(&action.sa_mask);
        sigaction(number, &action, &st_terminal.before[number]);
    }
    st_terminal.active = 1;
    st_terminal_write_all(out_fd, enter, enter_length);
    return 0;
}

void st_terminal_leave(void) {
    if (!st_terminal.active) return;
    st_terminal.active = 0;
    st_terminal_write_all(st_terminal.out_fd, st_terminal.leave, st_terminal.leave_length);
    if (st_terminal.raw) tcsetattr(st_terminal.in_fd, TCSAFLUSH, &st_terminal.saved);
    for (size_t i = 0; i < sizeof(st_terminal_crash_signals) / sizeof(st_terminal_crash_signals[0]); i++) {
        int number = st_terminal_crash_signals[i];
        struct sigaction current;
        /* Put back the handlers this replaced, unless a crash handler already did. */
        if (sigaction(number, NULL, &current) == 0 && current.sa_handler == st_terminal_crashed) {
            sigaction(number, &st_terminal.before[number], NULL);
        }
    }
}

int st_terminal_size(int fd, unsigned short *columns, unsigned short *rows) {
    struct winsize size;
    if (ioctl(fd, TIOCGWINSZ, &size) != 0) return -1;
    *columns = size.ws_col;
    *rows = size.ws_row;
    return 0;
}

#define ST_HUGE_PAGE ((size_t)2 << 20)

int st_heap_prepare_for_load(size_t bytes)
{
    if (bytes == 0 || bytes > ((size_t)30 << 20)) {
        errno = EINVAL;
        return -1;
    }
    /* Above the threshold: mmap'ed; freed, it raises the threshold (and
     * the trim threshold to twice that) past `bytes`. */
    void *raise = malloc(bytes + ST_HUGE_PAGE);
    if (!raise)
        return -1;
    /* A malloc freed unused is elided by the compiler: the block escapes. */
    __asm__ volatile("" : : "r"(raise) : "memory");
    free(raise);
    /* Now from the heap: advise the whole huge pages inside it, and free it
     * back to the heap's top, below the trim threshold, where the load's
     * blocks are carved from. */
    void *region = malloc(bytes);
    if (!region)
        return -1;
    uintptr_t start = ((uintptr_t)region + ST_HUGE_PAGE - 1) & ~(ST_HUGE_PAGE - 1);
    uintptr_t end = ((uintptr_t)region + bytes) & ~(ST_HUGE_PAGE - 1);
    int result = 0;
    if (end > start)
        result = madvise((void *)start, end - start, MADV_HUGEPAGE);
    int saved = errno;
    free(region);
    errno = saved;
    return result;
}

void st_heap_after_load(void)
{
    malloc_trim(0);
}
