#define _GNU_SOURCE
#include "uapi.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>

int st_uapi_linux_value(const char *name, uint64_t *value);

struct constant { const char *name; uint64_t value; };

#define C(name) { #name, (uint64_t)(uint32_t)(name) }
static const struct constant constants[] = {
    C(MNT_FORCE), C(MNT_DETACH), C(MNT_EXPIRE), C(UMOUNT_NOFOLLOW),
    C(SPLICE_F_MOVE), C(SPLICE_F_NONBLOCK), C(SPLICE_F_MORE), C(SPLICE_F_GIFT),
    C(O_RDONLY), C(O_WRONLY), C(O_RDWR), C(O_SYNC), C(O_DSYNC), C(O_CREAT), C(O_EXCL), C(O_NOCTTY),
    C(O_TRUNC), C(O_APPEND), C(O_NONBLOCK), C(O_DIRECT), C(O_DIRECTORY), C(O_NOFOLLOW), C(O_NOATIME),
    C(O_CLOEXEC), C(O_PATH),
};

int st_uapi_value(const char *name, uint64_t *value)
{
    for (unsigned i = 0; i < sizeof(constants) / sizeof(constants[0]); i++) {
        if (strcmp(constants[i].name, name) == 0) {
            *value = constants[i].value;
            return 1;
        }
    }
    return st_uapi_linux_value(name, value);
}

const char *st_errno_name(int value)
{
    return strerrorname_np(value);
}
