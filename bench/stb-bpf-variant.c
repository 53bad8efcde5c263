/*
 * One variant of storetrace's copy_file_range programs, loaded and drained
 * the way SyscallTracer does on a 5.11+ kernel (ring buffer, task storage,
 * wake-ups batched every 5 ms), with nothing else: for A/B runs of BPF
 * changes on the copy storm without building the Swift side
 * (BENCHMARKS.md, "BPF programs: plain loads").
 *
 *   stb-bpf-variant -o OBJECT -x EXIT_PROGRAM [-c CPU]
 *
 * OBJECT is a storetrace.bpf.o built with the flags of
 * Plugins/CompileBPF; EXIT_PROGRAM st_exit_copy_file_range or
 * st_exit_copy_file_range_plain. Prints "ready" on stderr once attached,
 * drains until SIGINT or SIGTERM, then prints: records=N lost=N.
 *
 *   cc -O2 -I bench -I Sources/CStoretraceABI/include \
 *      -o stb-bpf-variant bench/stb-bpf-variant.c -lbpf
 */
#include "common.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>

#include "storetrace_abi.h"

static volatile sig_atomic_t stopping;
static unsigned long long records;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int on_record(void *ctx, void *data, size_t size)
{
    (void)ctx, (void)data, (void)size;
    records++;
    return 0;
}

static int quiet(enum libbpf_print_level level, const char *format, va_list args)
{
    return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, format, args);
}

int main(int argc, char **argv)
{
    const char *path = NULL, *exit_name = NULL;
    int cpu = 1, opt;
    while ((opt = getopt(argc, argv, "o:x:c:")) != -1) {
        switch (opt) {
        case 'o': path = optarg; break;
        case 'x': exit_name = optarg; break;
        case 'c': cpu = (int)stb_arg(optarg, "-c"); break;
        default: path = NULL; optind = argc; break;
        }
    }
    if (!path || !exit_name) {
        fprintf(stderr, "usage: %s -o OBJECT -x EXIT_PROGRAM [-c CPU]\n", argv[0]);
        return 2;
    }
    stb_pin(cpu);
    libbpf_set_print(quiet);
    struct bpf_object *object = bpf_object__open_file(path, NULL);
    if (!object) {
        fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
        return 1;
    }
    struct bpf_program *program;
    int found = 0;
    bpf_object__for_each_program(program, object) {
        const char *name = bpf_program__name(program);
        int load = !strcmp(name, "st_enter_copy_file_range") || !strcmp(name, exit_name);
        found += load;
        bpf_program__set_autoload(program, load);
    }
    if (found != 2) {
        fprintf(stderr, "%s: no program %s\n", path, exit_name);
        return 1;
    }
    /* SyscallTracer's settings on a 5.11+ kernel (st_settings in .rodata). */
    struct bpf_map *map;
    bpf_object__for_each_map(map, object) {
        size_t size = 0;
        if (!strstr(bpf_map__name(map), ".rodata"))
            continue;
        struct st_settings *settings = (struct st_settings *)bpf_map__initial_value(map, &size);
        if (!settings || size < sizeof *settings) {
            fprintf(stderr, "%s: no st_settings in .rodata\n", path);
            return 1;
        }
        settings->exclude_pid = (uint32_t)getpid();
        settings->use_task_btf = 1;
        settings->wakeup_interval_ns = 5000000;
        settings->wakeup_bytes = (8 << 20) / 4;
    }
    bpf_map__set_autocreate(bpf_object__find_map_by_name(object, "st_pending"), false);
    bpf_map__set_autocreate(bpf_object__find_map_by_name(object, "st_perf_events"), false);
    if (bpf_object__load(object) != 0) {
        fprintf(stderr, "%s: load failed\n", path);
        return 1;
    }
    bpf_object__for_each_program(program, object) {
        if (bpf_program__autoload(program) && !bpf_program__attach(program)) {
            fprintf(stderr, "attaching %s failed: %s\n", bpf_program__name(program), strerror(errno));
            return 1;
        }
    }
    struct ring_buffer *ring = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(object, "st_events")),
                                                on_record, NULL, NULL);
    if (!ring) {
        fprintf(stderr, "ring_buffer__new: %s\n", strerror(errno));
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fprintf(stderr, "ready\n");
    /* The drain timer of SyscallTracer: records written without a wake-up
     * are read within 10 ms. */
    while (!stopping) {
        ring_buffer__poll(ring, 10);
        ring_buffer__consume(ring);
    }
    ring_buffer__consume(ring);
    /* Losses: the per-CPU counters (ST_COUNTER_RINGBUF_FULL, ST_COUNTER_PENDING_FULL). */
    unsigned long long lost = 0;
    int cpus = libbpf_num_possible_cpus(), counters = bpf_map__fd(bpf_object__find_map_by_name(object, "st_counters"));
    uint64_t values[cpus > 0 ? cpus : 1];
    for (uint32_t key = 0; key < ST_COUNTER_MAX; key++) {
        if (key != ST_COUNTER_RINGBUF_FULL && key != ST_COUNTER_PENDING_FULL)
            continue;
        if (bpf_map_lookup_elem(counters, &key, values) == 0)
            for (int i = 0; i < cpus; i++)
                lost += values[i];
    }
    printf("records=%llu lost=%llu\n", records, lost);
    ring_buffer__free(ring);
    bpf_object__close(object);
    return 0;
}
