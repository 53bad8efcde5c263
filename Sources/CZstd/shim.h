/* zstd as Debian's libzstd-dev ships it (1.5 or newer): the stable API only
 * (one-shot ZSTD_compress2 / ZSTD_decompressDCtx and the frame queries),
 * which every libzstd since 1.4 has. */
#include <zstd.h>
