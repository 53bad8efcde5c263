/*
 * copy_file_range storm: N calls of one small copy between two files, on one
 * CPU, as fast as the core allows. Explicit offsets (both 0) so every call
 * copies LEN bytes (it never hits EOF).
 *
 *   stb-cfr-storm -n CALLS [-l LEN] [-c CPU] -d DIR
 *
 * Prints one line: calls=N ok=K failed=F seconds=S rate=R (calls/s).
 */
#include "common.h"

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long long calls = 1000000, len = 1;
    int cpu = 0;
    const char *dir = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:l:c:d:")) != -1) {
        switch (opt) {
        case 'n': calls = stb_arg(optarg, "-n"); break;
        case 'l': len = stb_arg(optarg, "-l"); break;
        case 'c': cpu = (int)stb_arg(optarg, "-c"); break;
        case 'd': dir = optarg; break;
        default:
            fprintf(stderr, "usage: %s -n CALLS [-l LEN] [-c CPU] -d DIR\n", argv[0]);
            return 2;
        }
    }
    if (!dir || len < 1 || len > (1 << 20)) {
        fprintf(stderr, "usage: %s -n CALLS [-l LEN(1..1M)] [-c CPU] -d DIR\n", argv[0]);
        return 2;
    }
    stb_pin(cpu);

    char in_path[4096], out_path[4096];
    snprintf(in_path, sizeof in_path, "%s/cfr-in.bin", dir);
    snprintf(out_path, sizeof out_path, "%s/cfr-out.bin", dir);
    int in = open(in_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int out = open(out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || out < 0) {
        perror("open");
        return 1;
    }
    char *data = malloc((size_t)len);
    memset(data, 'x', (size_t)len);
    if (write(in, data, (size_t)len) != len) {
        perror("write");
        return 1;
    }
    free(data);

    /* One untimed warm-up call (page cache, first-use paths). */
    loff_t oi = 0, oo = 0;
    if (copy_file_range(in, &oi, out, &oo, (size_t)len, 0) != len) {
        perror("copy_file_range");
        return 1;
    }

    long long ok = 0, failed = 0;
    uint64_t start = stb_now_ns();
    for (long long i = 0; i < calls; i++) {
        oi = 0;
        oo = 0;
        if (copy_file_range(in, &oi, out, &oo, (size_t)len, 0) == len)
            ok++;
        else
            failed++;
    }
    uint64_t elapsed = stb_now_ns() - start;
    double seconds = (double)elapsed / 1e9;
    /* made counts the warm-up call too: tracers see it. */
    printf("calls=%lld made=%lld ok=%lld failed=%lld seconds=%.6f rate=%.0f\n", calls, calls + 1, ok, failed, seconds,
           (double)calls / seconds);
    close(in);
    close(out);
    unlink(in_path);
    unlink(out_path);
    return failed ? 1 : 0;
}
