# Sourced by scripts/*: builds the binary storetrace ships, the one file to
# copy onto a node (scripts/storetrace runs it, scripts/install installs it,
# scripts/check-portable runs it in a minimal Debian root, scripts/bench
# measures it):
#
#   storetrace_ship ROOT      sets STORETRACE_SHIPPED (and STORETRACE_DEBUG_FILE)
#
# Release, in a build folder of its own (.build/ship), so that it and the
# tests' build (-enable-testing, in .build) do not rebuild each other:
# - --static-swift-stdlib: the Swift runtime linked in;
# - libbpf, libelf and zlib linked statically (Sources/CLibbpf/module.modulemap);
# - --disable-local-rpath: no RUNPATH, so a library planted beside a copy of
#   the binary (in /tmp, say) is never loaded into a root process;
# - the debug info split off into .build/ship/storetrace.debug (gdb finds it
#   through the .gnu_debuglink of the binary beside it), the shipped
#   .build/ship/storetrace stripped.
# Needs objcopy (binutils).
storetrace_ship() {
    local root="$1"
    local scratch="$root/.build/ship"
    swift build -c release --static-swift-stdlib --disable-local-rpath \
        --package-path "$root" --scratch-path "$scratch" >&2 || return 1
    local built="$scratch/release/storetrace"
    STORETRACE_SHIPPED="$scratch/storetrace"
    STORETRACE_DEBUG_FILE="$scratch/storetrace.debug"
    if [[ ! -e $STORETRACE_SHIPPED || $built -nt $STORETRACE_SHIPPED ]]; then
        # The debug link names the file without its directory: made from
        # inside the folder both live in.
        (cd "$scratch" &&
            objcopy --only-keep-debug "$built" storetrace.debug &&
            objcopy --strip-all --add-gnu-debuglink=storetrace.debug "$built" storetrace.new &&
            mv storetrace.new storetrace) || { echo "storetrace: splitting the debug info failed" >&2; return 1; }
    fi
}
