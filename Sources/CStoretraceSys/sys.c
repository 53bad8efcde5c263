#define _GNU_SOURCE
#include <sys/vfs.h>
#include "storetrace_sys.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
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
