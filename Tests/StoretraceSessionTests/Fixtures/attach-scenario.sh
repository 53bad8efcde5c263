#!/bin/bash
# A disk attach with mounts, failures, the new mount API (via python ctypes), copies, uevents, kmsg, tracepoints.
set -u
d=/tmp/gold; rm -rf $d; mkdir -p $d/m $d/a $d/b
truncate -s 64M $d/img; mkfs.ext4 -q -F $d/img
dev=$(losetup -f --show $d/img)
mount $dev $d/m
mkdir $d/m/dir-made
mount --bind $d/a $d/b
umount $d/a 2>/dev/null   # EINVAL
umount $d/b
umount -l $d/b 2>/dev/null
head -c 1048576 /dev/urandom > $d/m/in.bin
cp $d/m/in.bin $d/m/out.bin
python3 - <<'PY'
import os, ctypes
libc = ctypes.CDLL(None, use_errno=True)
SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_move_mount, SYS_open_tree, SYS_fspick = 430, 431, 432, 429, 428, 433
fd = libc.syscall(SYS_fsopen, b"tmpfs", 1)
libc.syscall(SYS_fsconfig, fd, 1, b"size", b"16m", 0)
libc.syscall(SYS_fsconfig, fd, 6, None, None, 0)
mfd = libc.syscall(SYS_fsmount, fd, 1, 0)
libc.syscall(SYS_move_mount, mfd, b"", -100, b"/tmp/gold/a", 4)
t = libc.syscall(SYS_open_tree, -100, b"/tmp/gold/a", 1 | 0x80000)
libc.syscall(SYS_move_mount, t, b"", -100, b"/tmp/gold/b", 4)
p = libc.syscall(SYS_fspick, -100, b"/tmp/gold/nonexistent", 0)
i = os.open("/tmp/gold/m/in.bin", os.O_RDONLY); o = os.open("/tmp/gold/m/cfr.bin", os.O_WRONLY|os.O_CREAT)
os.copy_file_range(i, o, 65536)
os.sendfile(o, i, 0, 4096)
PY
umount $d/b; umount $d/a
umount $d/m
losetup -d $dev
sleep 0.3
