/* storetrace_sys.h: syscalls Swift cannot reach directly.
 *
 * glibc's syscall(2) is variadic, which Swift does not import, and the new
 * mount API has no wrappers in every libc storetrace builds against. Each
 * function returns what the syscall returns: -1 with errno set on failure.
 */
#ifndef STORETRACE_SYS_H
#define STORETRACE_SYS_H

#include <stddef.h>
#include <stdint.h>

/* Linux interfaces Swift's Glibc module leaves out: re-exported here. */
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <linux/netlink.h>

int st_fsopen(const char *fs_name, unsigned int flags);
int st_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux);
int st_fsmount(int fs_fd, unsigned int flags, unsigned int attr_flags);
int st_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path,
                  unsigned int flags);
int st_open_tree(int dfd, const char *path, unsigned int flags);
int st_fspick(int dfd, const char *path, unsigned int flags);
int st_mount_setattr(int dfd, const char *path, unsigned int flags, uint64_t attr_set,
                     uint64_t attr_clr, uint64_t propagation);
int st_gettid(void);

/* copy_file_range(2) and splice(2): glibc declares them only with
 * _GNU_SOURCE, which Swift's Glibc module does not set. */
long st_copy_file_range(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len,
                        unsigned int flags);
long st_splice(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len,
               unsigned int flags);

/* major(3)/minor(3) of a user-space dev_t (macros in glibc). */
unsigned int st_dev_major(uint64_t dev);
unsigned int st_dev_minor(uint64_t dev);

/* tgkill(2): a signal to one thread, as the thread that blocks it in a
 * signalfd-based loop must be the one to receive it. */
int st_tgkill(int tgid, int tid, int sig);

/* The calling thread's effective capability set (64 bits), or -1 on error. */
int st_effective_caps(uint64_t *caps);

/* adjtimex(2) reading only (no change asked): whether the kernel keeps the
 * wall clock synchronized (STA_UNSYNC clear and not TIME_ERROR), its maximum
 * and estimated error in microseconds. 0, or -1 (errno set). Glibc's Swift
 * module does not export sys/timex.h. */
int st_clock_sync(int *synchronized, long *max_error_us, long *est_error_us);

/* statfs(2)'s f_type of the file system holding `path` (tracefs: 0x74726163);
 * 0 or -1 (errno set). Glibc's Swift module does not export statfs. */
int st_fs_magic(const char *path, unsigned long *magic);

/* What a holder scan needs from statx(2) on a path (a /proc/PID/cwd or
 * /proc/PID/fd/N magic link is followed): the mount the file is on (global
 * across mount namespaces), its type, device and, for a device node, the
 * device it stands for. has_mnt_id is 0 on kernels before 5.8. */
struct st_file_brief {
    uint64_t mnt_id;
    uint64_t ino;
    uint32_t mode;
    uint32_t dev_major;
    uint32_t dev_minor;
    uint32_t rdev_major;
    uint32_t rdev_minor;
    uint32_t has_mnt_id;
};
int st_file_brief(int dirfd, const char *path, int follow, struct st_file_brief *out);

/* Mount namespaces without entering them (Linux 6.12+ for the iteration,
 * 6.8+ for listmount/statmount, 6.11+ for a foreign namespace id). Each
 * returns -1 with errno set (ENOTTY, ENOSYS, EINVAL on older kernels). */

/* The namespace id (not the inode) of a mount namespace file. */
int st_mntns_id(int ns_fd, uint64_t *ns_id);
/* A new fd for the next (newer) or previous mount namespace, or -1 (ENOENT
 * at the end). */
int st_mntns_step(int ns_fd, int newer);
/* The unique 64-bit ids of the mounts in namespace ns_id, up to capacity;
 * returns the number written. */
long st_listmount(uint64_t ns_id, uint64_t *ids, size_t capacity);

/* One mount from statmount(2): ids as /proc/PID/mountinfo shows them,
 * device, propagation, and root/mount point/fstype as offsets into the
 * caller's string buffer (NUL-terminated). */
struct st_mount_brief {
    uint32_t mnt_id;
    uint32_t parent_id;
    uint32_t dev_major;
    uint32_t dev_minor;
    uint64_t propagation;
    uint64_t peer_group;
    uint64_t master;
    uint32_t root_offset;
    uint32_t point_offset;
    uint32_t fstype_offset;
    uint32_t strings_length;
};
int st_statmount(uint64_t unique_id, uint64_t ns_id, struct st_mount_brief *out, char *strings, size_t capacity);

/* The terminal of `storetrace top`. st_terminal_enter saves the settings
 * of in_fd (a terminal, or -1 for none), puts it in raw mode (no echo, no
 * line editing, no signals from keys: Ctrl-C arrives as a byte), writes
 * `enter` to out_fd, and keeps `leave` (at most 255 bytes) for
 * st_terminal_leave, which writes it and restores the settings: at the
 * normal exit, and from handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE,
 * SIGABRT and SIGTRAP that it installs, which restore the terminal and then
 * hand the signal to the handler that was there before (the Swift
 * runtime's backtracer, or the default). Only async-signal-safe calls run
 * in the handler. Returns 0, or -1 with errno set (nothing changed). */
int st_terminal_enter(int in_fd, int out_fd, const char *enter, size_t enter_length,
                      const char *leave, size_t leave_length);
/* Idempotent; async-signal-safe. */
void st_terminal_leave(void);

/* The heap for a libbpf load (bpf_object__load). libbpf reads the kernel's
 * BTF (5.4 MB here) from sysfs into a fresh heap block and copies it into
 * another: about 2,800 page faults, 5 ms of a 9 ms BTF load on this VM.
 * st_heap_prepare_for_load makes the next `bytes` of the main heap one
 * region advised for transparent huge pages (MADV_HUGEPAGE), so those
 * blocks fault in 2 MiB at a time: it frees an mmap'ed block of that size
 * first, which raises glibc's dynamic mmap threshold above it (mallopt(3):
 * what any free of such a block does), so that blocks that large come
 * from the heap, then takes the region from the heap, advises it and frees
 * it, to stay at the heap's top for the load's allocations. `bytes` at
 * most 30 MiB (the threshold's ceiling is 32 MiB). 0, or -1 with errno set
 * (no memory, a kernel without transparent huge pages): the load then
 * faults 4 KiB pages as before. st_heap_after_load gives the free heap
 * back to the system (malloc_trim). */
int st_heap_prepare_for_load(size_t bytes);
void st_heap_after_load(void);
/* The size of the terminal on fd: 0, or -1 with errno set. */
int st_terminal_size(int fd, unsigned short *columns, unsigned short *rows);

#endif
