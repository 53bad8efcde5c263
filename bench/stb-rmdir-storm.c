/*
 * rmdir storm: N pairs of mkdir(DIR/d) + rmdir(DIR/d) on one CPU, of which B
 * rmdirs (spread evenly) are of a mount point instead and fail with EBUSY.
 * storetrace emits only the failed removals, so a traced run must show
 * exactly B events while the N successful ones cost as little as possible.
 * Run it in a private mount namespace (scripts/bench uses
 * `unshare -m --propagation private`): the tmpfs it mounts for the EBUSY
 * calls disappears with it.
 *
 *   stb-rmdir-storm -n PAIRS [-b BUSY] [-c CPU] -d DIR
 *
 * Prints one line: pairs=N calls=C busy=B failed=F seconds=S rate=R
 * (calls: mkdir + rmdir system calls made; failed: calls that failed other
 * than the B expected EBUSY; rate: calls/s).
 */
#include "common.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>

/* rmdir(2) where the architecture has it (x86_64), else unlinkat(AT_REMOVEDIR)
 * (arm64 has only the *at calls); storetrace traces both. */
static long stb_rmdir(const char *path)
{
#ifdef SYS_rmdir
    return syscall(SYS_rmdir, path);
#else
    return syscall(SYS_unlinkat, AT_FDCWD, path, AT_REMOVEDIR);
#endif
}

static long stb_mkdir(const char *path)
{
#ifdef SYS_mkdir
    return syscall(SYS_mkdir, path, 0700);
#else
    return syscall(SYS_mkdirat, AT_FDCWD, path, 0700);
#endif
}

int main(int argc, char **argv)
{
    long long pairs = 100000, busy = 0;
    int cpu = 0;
    const char *dir = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:b:c:d:")) != -1) {
        switch (opt) {
        case 'n': pairs = stb_arg(optarg, "-n"); break;
        case 'b': busy = stb_arg(optarg, "-b"); break;
        case 'c': cpu = (int)stb_arg(optarg, "-c"); break;
        case 'd': dir = optarg; break;
        default:
            fprintf(stderr, "usage: %s -n PAIRS [-b BUSY] [-c CPU] -d DIR\n", argv[0]);
            return 2;
        }
    }
    if (!dir || busy > pairs) {
        fprintf(stderr, "usage: %s -n PAIRS [-b BUSY] [-c CPU] -d DIR (BUSY <= PAIRS)\n", argv[0]);
        return 2;
    }
    stb_pin(cpu);

    char victim[4096], mountpoint[4096];
    snprintf(victim, sizeof victim, "%s/d", dir);
    snprintf(mountpoint, sizeof mountpoint, "%s/busy", dir);
    if (busy > 0) {
        if ((mkdir(mountpoint, 0700) != 0 && errno != EEXIST) || mount("stb", mountpoint, "tmpfs", 0, "size=4k") != 0) {
            perror("mount tmpfs for the EBUSY calls");
            return 1;
        }
    }

    /* The syscalls themselves: glibc may route rmdir through unlinkat. */
    long long calls = 0, failed = 0, busy_seen = 0;
    long long every = busy > 0 ? pairs / busy : 0;
    uint64_t start = stb_now_ns();
    for (long long i = 0; i < pairs; i++) {
        if (every && i % every == every - 1 && busy_seen < busy) {
            calls++;
            if (stb_rmdir(mountpoint) == 0 || errno != EBUSY) {
                failed++;
            } else {
                busy_seen++;
            }
            continue;
        }
        calls += 2;
        if (stb_mkdir(victim) != 0) failed++;
        if (stb_rmdir(victim) != 0) failed++;
    }
    uint64_t elapsed = stb_now_ns() - start;
    double seconds = (double)elapsed / 1e9;
    printf("pairs=%lld calls=%lld busy=%lld failed=%lld seconds=%.6f rate=%.0f\n", pairs, calls, busy_seen, failed,
           seconds, (double)calls / seconds);
    if (busy > 0) {
        umount2(mountpoint, MNT_DETACH);
        rmdir(mountpoint);
    }
    return failed || busy_seen != busy ? 1 : 0;
}
