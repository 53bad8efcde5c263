/* st_kernel.h: the few kernel structs storetrace reads, declared for CO-RE.
 *
 * Instead of a multi-megabyte vmlinux.h, declare only the fields we touch.
 * preserve_access_index makes clang emit relocations by field *name*, and
 * libbpf resolves them against the running kernel's BTF at load time, so the
 * real offsets (which change between kernels and configs) never matter here.
 */
#ifndef ST_KERNEL_H
#define ST_KERNEL_H

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

struct ns_common { unsigned int inum; };
struct mnt_namespace { struct ns_common ns; };
struct nsproxy { struct mnt_namespace *mnt_ns; };

struct super_block { unsigned int s_dev; };
struct inode { unsigned long i_ino; struct super_block *i_sb; };
struct qstr { const unsigned char *name; };
struct dentry { struct qstr d_name; };
struct path { struct dentry *dentry; };
struct file { struct inode *f_inode; struct path f_path; };
struct fdtable { unsigned int max_fds; struct file **fd; };
/* fd_array: only its type is used (an array of `struct file *`), to read a
 * descriptor-table slot as a BTF pointer (storetrace.bpf.c, fd_file_plain). */
struct files_struct { struct fdtable *fdt; struct file *fd_array[1]; };

/* bd_prepare_to_claim's device (storetrace_claim.bpf.c). */
struct block_device { unsigned int bd_dev; };

/* The caller's cgroup (v2) id: what bpf_get_current_cgroup_id() walks to. */
struct kernfs_node { unsigned long long id; };
struct cgroup { struct kernfs_node *kn; };
struct css_set { struct cgroup *dfl_cgrp; };

typedef struct { unsigned int val; } kuid_t;
struct cred { kuid_t uid; };

struct task_struct {
    struct nsproxy *nsproxy;
    struct files_struct *files;
    const struct cred *cred;
    struct css_set *cgroups;
    char comm[16];
};

#pragma clang attribute pop

#endif
