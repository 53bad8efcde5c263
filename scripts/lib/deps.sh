# Sourced by scripts/*: installs the Debian/Ubuntu packages storetrace needs
# to build (libbpf and its libraries, libzstd for captures) if any is missing. Swift itself must
# already be installed (https://www.swift.org/install/linux/).
storetrace_install_deps() {
    local packages=(libbpf-dev libelf-dev zlib1g-dev libzstd-dev pkg-config "$@")
    local missing=()
    local package
    for package in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    if ((${#missing[@]})); then
        echo "storetrace: installing ${missing[*]}" >&2
        local sudo=()
        [[ $(id -u) -eq 0 ]] || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if ! command -v swift >/dev/null; then
        echo "storetrace: swift not found; install Swift 6 (https://www.swift.org/install/linux/) and retry" >&2
        return 1
    fi
}
