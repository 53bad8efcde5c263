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

/* statfs(2)'s f_type of the file system holding `path` (tracefs: 0x74726163);
 * 0 or -1 (errno set). Glibc's Swift module does not export statfs. */
int st_fs_magic(const char *path, unsigned long *magic);

#endif
