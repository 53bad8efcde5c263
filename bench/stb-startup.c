/*
 * Start-up probe: time from exec of a tracer to the first event it observes.
 *
 *   stb-startup -k mount|cfr -d DIR [-i INTERVAL_US] [-t TIMEOUT_MS] [-c CPU] -- TRACER ARGS...
 *
 * Records t0 (CLOCK_MONOTONIC) and forks; the child execs the tracer with its
 * stdout on a pipe (stderr is inherited). The parent pins itself to CPU and
 * makes one marked call every INTERVAL_US, recording the time of each:
 *   mount: mkdir DIR/m<SEQ>, bind-mount DIR/src onto it, umount2, rmdir
 *          (in a private mount namespace of its own, so nothing leaks);
 *   cfr:   copy_file_range with len = SEQ (the source holds 1 byte, so it
 *          copies 1 byte and the tracer prints len = SEQ).
 * SEQ = 770000000 + n. It reads the tracer's output as it comes; the first line
 * holding a SEQ names the first call the tracer saw, and
 *   startup_ms = time of that call - t0.
 * Also printed: seen_ms, when that line was read (adds output latency).
 * Then it stops the tracer with SIGINT (SIGKILL after 5 s) and reaps it.
 * Output: startup_ms=X seen_ms=Y seq=N calls=M   or   startup_ms=timeout calls=M
 */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEQ_BASE 770000000ull
#define MAX_CALLS 200000

static uint64_t call_time[MAX_CALLS];

/* The SEQ in a line, or -1: any run of digits whose value is in range. */
static long long find_seq(const char *line, long long ncalls)
{
    for (const char *p = line; *p;) {
        if (*p >= '0' && *p <= '9') {
            unsigned long long v = 0;
            int digits = 0;
            while (*p >= '0' && *p <= '9') {
                if (digits < 19)
                    v = v * 10 + (unsigned long long)(*p - '0');
                digits++;
                p++;
            }
            if (digits == 9 && v >= SEQ_BASE && v < SEQ_BASE + (unsigned long long)ncalls)
                return (long long)(v - SEQ_BASE);
        } else {
            p++;
        }
    }
    return -1;
}

/* SIGINT, keep draining its output so it never blocks on a full pipe, reap. */
static void stop_child(pid_t child, int out_fd)
{
    char sink[4096];
    kill(child, SIGINT);
    for (int i = 0; i < 500; i++) { /* 5 s */
        int status;
        if (waitpid(child, &status, WNOHANG) == child)
            return;
        while (read(out_fd, sink, sizeof sink) > 0) {
        }
        usleep(10000);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

int main(int argc, char **argv)
{
    const char *kind = NULL, *dir = NULL;
    long long interval_us = 1000, timeout_ms = 20000;
    int cpu = 0, opt;
    while ((opt = getopt(argc, argv, "+k:d:i:t:c:")) != -1) {
        switch (opt) {
        case 'k': kind = optarg; break;
        case 'd': dir = optarg; break;
        case 'i': interval_us = stb_arg(optarg, "-i"); break;
        case 't': timeout_ms = stb_arg(optarg, "-t"); break;
        case 'c': cpu = (int)stb_arg(optarg, "-c"); break;
        default: goto usage;
        }
    }
    if (!kind || !dir || optind >= argc || (strcmp(kind, "mount") && strcmp(kind, "cfr")))
        goto usage;
    int is_mount = strcmp(kind, "mount") == 0;

    char src[4096], in_path[4096], out_path[4096];
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(in_path, sizeof in_path, "%s/startup-in.bin", dir);
    snprintf(out_path, sizeof out_path, "%s/startup-out.bin", dir);
    int in = -1, out = -1;
    if (is_mount) {
        if (mkdir(src, 0700) != 0 && errno != EEXIST) {
            perror("mkdir");
            return 1;
        }
    } else {
        in = open(in_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        out = open(out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (in < 0 || out < 0 || write(in, "x", 1) != 1) {
            perror("startup files");
            return 1;
        }
    }

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        perror("pipe2");
        return 1;
    }
    fflush(NULL);
    uint64_t t0 = stb_now_ns();
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execvp(argv[optind], argv + optind);
        perror(argv[optind]);
        _exit(127);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    stb_pin(cpu);
    if (is_mount) {
        /* A private mount namespace of our own: the marked mounts never reach the host. */
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
            perror("unshare/private");
            stop_child(child, fds[0]);
            return 1;
        }
    }

    static char buf[1 << 16];
    size_t have = 0;
    long long n = 0, seq = -1;
    uint64_t seen = 0;
    int child_gone = 0;
    uint64_t deadline = t0 + (uint64_t)timeout_ms * 1000000ull;
    uint64_t next = stb_now_ns();
    while (seq < 0 && n < MAX_CALLS && stb_now_ns() < deadline) {
        uint64_t now = stb_now_ns();
        if (now >= next) {
            unsigned long long mark = SEQ_BASE + (unsigned long long)n;
            call_time[n] = stb_now_ns();
            if (is_mount) {
                char target[4200];
                snprintf(target, sizeof target, "%s/m%llu", dir, mark);
                mkdir(target, 0700);
                call_time[n] = stb_now_ns();
                if (mount(src, target, NULL, MS_BIND, NULL) == 0)
                    umount2(target, 0);
                rmdir(target);
            } else {
                loff_t oi = 0, oo = 0;
                copy_file_range(in, &oi, out, &oo, (size_t)mark, 0);
            }
            n++;
            next += (uint64_t)interval_us * 1000ull;
            if (next < now)
                next = now;
        }
        uint64_t now2 = stb_now_ns();
        int wait_ms = next > now2 ? (int)((next - now2) / 1000000ull) : 0;
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (!child_gone && poll(&p, 1, wait_ms) > 0) {
            ssize_t r = read(fds[0], buf + have, sizeof buf - 1 - have);
            if (r == 0) {
                child_gone = 1;
            } else if (r > 0) {
                uint64_t t_read = stb_now_ns();
                have += (size_t)r;
                buf[have] = 0;
                char *line = buf, *nl;
                while ((nl = strchr(line, '\n')) != NULL) {
                    *nl = 0;
                    long long s = find_seq(line, n);
                    if (s >= 0) {
                        seq = s;
                        seen = t_read;
                        break;
                    }
                    line = nl + 1;
                }
                if (seq < 0) {
                    have = strlen(line);
                    memmove(buf, line, have);
                    if (have >= sizeof buf - 1)
                        have = 0;
                }
            }
        } else if (child_gone && wait_ms > 0) {
            usleep((useconds_t)wait_ms * 1000);
        }
    }
    if (seq >= 0)
        printf("startup_ms=%.3f seen_ms=%.3f seq=%lld calls=%lld\n", (double)(call_time[seq] - t0) / 1e6,
               (double)(seen - t0) / 1e6, seq, n);
    else
        printf("startup_ms=timeout calls=%lld\n", n);
    fflush(stdout);
    stop_child(child, fds[0]);
    if (!is_mount) {
        unlink(in_path);
        unlink(out_path);
    } else {
        rmdir(src);
    }
    return seq >= 0 ? 0 : 1;

usage:
    fprintf(stderr, "usage: %s -k mount|cfr -d DIR [-i US] [-t MS] [-c CPU] -- TRACER ARGS...\n", argv[0]);
    return 2;
}
