#!/bin/bash
# What docs/report.png shows: copies on a loop-backed ext4 with read_ahead_kb 4,
# then 128; then an umount that fails with EBUSY because a process has its cwd
# on the mount. Run as root under `storetrace record`:
#   storetrace record -o demo.stcap & sleep 3; docs/report-scenario.sh; kill -INT %1
#   storetrace report demo.stcap -o demo.html
#   chromium --headless --no-sandbox --hide-scrollbars --screenshot=docs/report.png \
#       --window-size=1400,1450 file://$PWD/demo.html
set -eu
d=/tmp/report-demo
umount -l "$d/m" 2>/dev/null || true
rm -rf "$d"; mkdir -p "$d/m"
truncate -s 512M "$d/disk.img"; mkfs.ext4 -q -F "$d/disk.img"
dev=$(losetup -f --show "$d/disk.img"); disk=${dev#/dev/}
echo 4 > "/sys/block/$disk/queue/read_ahead_kb"
mount "$dev" "$d/m"
head -c 96M /dev/urandom > "$d/m/src.bin"
copy() {  # Go's io.Copy: copy_file_range in 8 MiB steps, the page cache dropped first
    sync; echo 3 > /proc/sys/vm/drop_caches
    python3 -c '
import os, sys
i = os.open(sys.argv[1], os.O_RDONLY); o = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
while os.copy_file_range(i, o, 8 << 20) > 0: pass' "$d/m/src.bin" "$1"
}
copy "$d/m/dst1.bin"
sleep 1.5
echo 128 > "/sys/block/$disk/queue/read_ahead_kb"
sleep 1.5  # the queue settings are sampled once a second
copy "$d/m/dst2.bin"
sleep 0.5
(cd "$d/m" && exec sleep 30) & holder=$!
sleep 0.5
umount "$d/m" || true          # EBUSY: the sleep's cwd is on it
sleep 1.2                      # one holder scan per target a second
rmdir "$d/m" 2>/dev/null || true   # EBUSY too
sleep 0.5
kill "$holder"; wait "$holder" 2>/dev/null || true
sleep 0.3
umount "$d/m"
losetup -d "$dev"
sleep 0.5
