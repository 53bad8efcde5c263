/*
 * mount/umount storm: N pairs of mount(src, dst, NULL, MS_BIND) + umount2(dst, 0)
 * on one CPU. Run it in a private mount namespace (scripts/bench uses
 * `unshare -m --propagation private`) so nothing leaks to the host and
 * everything disappears if it is killed.
 *
 *   stb-mount-storm -n PAIRS [-c CPU] -d DIR
 *
 * Prints one line: pairs=N calls=2N failed=F seconds=S rate=R (calls/s).
 */
#include "common.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long long pairs = 100000;
    int cpu = 0;
    const char *dir = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:c:d:")) != -1) {
        switch (opt) {
        case 'n': pairs = stb_arg(optarg, "-n"); break;
        case 'c': cpu = (int)stb_arg(optarg, "-c"); break;
        case 'd': dir = optarg; break;
        default:
            fprintf(stderr, "usage: %s -n PAIRS [-c CPU] -d DIR\n", argv[0]);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "usage: %s -n PAIRS [-c CPU] -d DIR\n", argv[0]);
        return 2;
    }
    stb_pin(cpu);

    char src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(dst, sizeof dst, "%s/dst", dir);
    if ((mkdir(src, 0700) != 0 && errno != EEXIST) || (mkdir(dst, 0700) != 0 && errno != EEXIST)) {
        perror("mkdir");
        return 1;
    }

    long long failed = 0, made = 0;
    uint64_t start = stb_now_ns();
    for (long long i = 0; i < pairs; i++) {
        made++;
        if (mount(src, dst, NULL, MS_BIND, NULL) != 0) {
            failed++;
            continue; /* nothing to unmount */
        }
        made++;
        if (umount2(dst, 0) != 0) {
            failed++;
            made++; /* clean up so the next mount starts from the same state */
            umount2(dst, MNT_DETACH);
        }
    }
    uint64_t elapsed = stb_now_ns() - start;
    double seconds = (double)elapsed / 1e9;
    printf("pairs=%lld calls=%lld failed=%lld seconds=%.6f rate=%.0f\n", pairs, made, failed, seconds,
           (double)made / seconds);
    rmdir(dst);
    rmdir(src);
    return failed ? 1 : 0;
}
