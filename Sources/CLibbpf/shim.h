/* libbpf as Debian's libbpf-dev ships it (1.1 or newer). */
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/bpf.h>
