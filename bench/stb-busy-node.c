/*
 * A busy node for `storetrace holders` and `fuser -vm`: PROCS processes
 * spread over NS mount namespaces (each made with unshare(CLONE_NEWNS), so
 * it holds its own copy of every mount, shared ones in the same peer
 * group), every one with FILES open files in NOISE (not the target), and
 * one in every EVERY of them also with a file open on TARGET and its cwd in
 * it: what a scan must find among thousands of processes that are not
 * holders. Each namespace's first process is one of the holders.
 *
 *   stb-busy-node -p PROCS -m NS -f FILES -e EVERY -t TARGET -o NOISE
 *
 * Prints "ready procs=P namespaces=M holders=H" once every process is in
 * place, then waits until its stdin is closed (or SIGTERM), ends them all
 * and exits. Needs CAP_SYS_ADMIN (unshare). Every process is in the
 * generator's process group; killing the group ends the node.
 */
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int ready_pipe[2], hold_pipe[2];

/* One process of the node: opens its files, reports ready, then blocks
 * until the generator closes the hold pipe. */
static void hold(const char *target, const char *noise, long long files, int holder, long long index)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char path[4096];
    for (long long f = 0; f < files; f++) {
        snprintf(path, sizeof path, "%s/noise-%lld", noise, (index * files + f) % 4096);
        if (open(path, O_RDONLY | O_CREAT, 0600) < 0) _exit(3);
    }
    if (holder) {
        snprintf(path, sizeof path, "%s/held", target);
        if (open(path, O_RDONLY | O_CREAT, 0600) < 0 || chdir(target) != 0) _exit(4);
    }
    char byte = 1;
    if (write(ready_pipe[1], &byte, 1) != 1) _exit(5);
    close(ready_pipe[1]);
    close(hold_pipe[1]);
    while (read(hold_pipe[0], &byte, 1) > 0) {}
    _exit(0);
}

int main(int argc, char **argv)
{
    long long procs = 2000, namespaces = 200, files = 8, every = 10;
    const char *target = NULL, *noise = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "p:m:f:e:t:o:")) != -1) {
        switch (opt) {
        case 'p': procs = stb_arg(optarg, "-p"); break;
        case 'm': namespaces = stb_arg(optarg, "-m"); break;
        case 'f': files = stb_arg(optarg, "-f"); break;
        case 'e': every = stb_arg(optarg, "-e"); break;
        case 't': target = optarg; break;
        case 'o': noise = optarg; break;
        default: goto usage;
        }
    }
    if (!target || !noise || namespaces < 1 || procs < namespaces || every < 1) goto usage;
    if (pipe(ready_pipe) != 0 || pipe(hold_pipe) != 0) {
        perror("pipe");
        return 1;
    }
    signal(SIGTERM, SIG_IGN); /* the read of stdin below ends on EOF; SIGTERM is for the group */

    long long per_ns = procs / namespaces, holders = 0;
    for (long long n = 0; n < namespaces; n++) {
        long long count = n == namespaces - 1 ? procs - per_ns * (namespaces - 1) : per_ns;
        /* A leader per namespace: unshares, then forks the rest of it. */
        pid_t leader = fork();
        if (leader < 0) {
            perror("fork");
            return 1;
        }
        for (long long i = 0; i < count; i++) {
            long long index = n * per_ns + i;
            int holder = i == 0 || index % every == 0;
            if (leader == 0) {
                if (i == 0 && unshare(CLONE_NEWNS) != 0) _exit(6);
                if (i + 1 < count) {
                    pid_t child = fork();
                    if (child < 0) _exit(7);
                    if (child == 0) continue; /* the child makes the next one */
                }
                signal(SIGTERM, SIG_DFL);
                hold(target, noise, files, holder, index);
            }
            holders += holder;
        }
    }
    close(ready_pipe[1]);
    long long ready = 0;
    char byte;
    while (ready < procs && read(ready_pipe[0], &byte, 1) == 1) ready++;
    if (ready != procs) {
        fprintf(stderr, "stb-busy-node: only %lld of %lld processes came up\n", ready, procs);
        return 1;
    }
    printf("ready procs=%lld namespaces=%lld holders=%lld\n", procs, namespaces, holders);
    fflush(stdout);
    while (read(STDIN_FILENO, &byte, 1) > 0) {}
    close(hold_pipe[1]);
    while (wait(NULL) > 0 || errno == EINTR) {}
    return 0;

usage:
    fprintf(stderr, "usage: %s -p PROCS -m NS -f FILES -e EVERY -t TARGET -o NOISE\n", argv[0]);
    return 2;
}
