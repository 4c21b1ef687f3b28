#!/usr/bin/env bash
# Installs what rwkvx-server and its tests need when it is missing (Debian 12:
# apt-get, through sudo when not root), as .ci/run installs clang:
#   need_deps.sh build   libmicrohttpd-dev (the server's HTTP library)
#   need_deps.sh test    also curl, nodejs and npm (the clients of the tests)
# Fails (status 1) when something is missing and cannot be installed, so the
# server tests can never be skipped silently.
set -u
want=()
if ! printf '#include <microhttpd.h>\nint main(void) { return MHD_VERSION > 0 ? 0 : 1; }\n' |
        ${CC:-cc} -x c -o /dev/null - -lmicrohttpd > /dev/null 2>&1; then
    want+=(libmicrohttpd-dev)
fi
if [ "${1:-build}" = test ]; then
    command -v curl > /dev/null || want+=(curl)
    command -v node > /dev/null || want+=(nodejs)
    command -v npm > /dev/null || want+=(npm)
    command -v python3 > /dev/null || want+=(python3)
fi
[ ${#want[@]} -eq 0 ] && exit 0
echo "rwkvx-server needs: ${want[*]}; installing them with apt-get"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if ! { $SUDO apt-get update && $SUDO apt-get install -y "${want[@]}"; }; then
    echo "cannot install ${want[*]}: install them (apt-get install ${want[*]}) and run make test again" >&2
    exit 1
fi
