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
struct files_struct { struct fdtable *fdt; };

/* bd_prepare_to_claim's device (storetrace_claim.bpf.c). */
struct block_device { unsigned int bd_dev; };

struct task_struct {
    struct nsproxy *nsproxy;
    struct files_struct *files;
};

#pragma clang attribute pop

#endif
