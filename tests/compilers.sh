#!/usr/bin/env bash
# The header compiles without a warning (-Werror) on every compiler at hand:
#
#   bash tests/compilers.sh [--quick] [--only REGEX] [-j N] [--chroot DIR] [COMPILER...]
#
# COMPILER is a C compiler driver (gcc-13, clang-16, aarch64-linux-gnu-gcc...);
# its C++ driver is found by name (gcc -> g++, clang -> clang++). Without
# any, every gcc and clang installed is tried (gcc, gcc-N, clang, clang-N; one
# of each version). Each one compiles tests/compile.c (the header as the only
# translation unit, implementation included) with
#     -Wall -Wextra -pedantic -Wshadow -Werror
# over the matrix
#     -O0 -O2 -O3 -Os  x  C99, C++11  x  -march=native or not  x
#     -fopenmp or not  x  SIMD kernels or -DRWKVX_NO_SIMD -DRWKVX_NO_MMAP
#     (at -Os also -DRWKVX_STATIC: every API function static)
# (with -D_FORTIFY_SOURCE=3 above -O0, as Ubuntu's gcc has it by default)
# (64 builds a compiler; -march=native only where the compiler targets this
# machine, -fopenmp only where it has omp.h). --quick compiles 4 of them per
# compiler, chosen so that every value of every axis appears (make test).
# --only REGEX keeps the builds whose "OPT LANG ARCH OMP SIMD" line matches
# (grep -E), e.g. --only '^-O3 ' or --only 'c\+\+11 .* nosimd'.
# --chroot DIR runs the whole check inside the root file system DIR (a newer
# distribution's compilers, e.g. a Debian trixie made by debootstrap: README,
# "Building and testing"); it copies the header and this script there (root).
# Prints one line per compiler and the first warnings of each failed build;
# exits 1 if any build warned or failed.
#
# -Wshadow is on because it costs nothing (the header has no shadowed name) and
# catches a reused name in long kernels. -Wconversion is not: in C it is 44
# int -> size_t sign conversions of indices that are never negative (casts
# would only clutter the arithmetic) and g++ 12 then warns inside its own
# AVX-512 intrinsic headers; -Wconversion -Wno-sign-conversion is clean in C
# with gcc 12 and clang 14 today, but not held as a rule.
set -u
cd "$(dirname "$0")/.."
quick=0
jobs=$(nproc 2> /dev/null || echo 2)
compilers=()
chroot_dir=""
only=""
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 ;;
        -j) shift; jobs=$1 ;;
        -j*) jobs=${1#-j} ;;
        --chroot) shift; chroot_dir=$1 ;;
        --only) shift; only=$1 ;;
        -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
        -*) echo "compilers.sh: unknown option $1" >&2; exit 2 ;;
        *) compilers+=("$1") ;;
    esac
    shift
done

# --chroot: the same check, run inside DIR on a copy of what it compiles
if [ -n "$chroot_dir" ]; then
    # the script reads its matrix through /dev/fd (process substitution)
    if [ ! -e "$chroot_dir/dev/fd" ]; then
        echo "compilers.sh: $chroot_dir has no /dev/fd: mount --bind /dev $chroot_dir/dev; mount -t proc proc $chroot_dir/proc" >&2
        exit 1
    fi
    inside=$(mktemp -d "$chroot_dir/tmp/rwkvx-compilers.XXXXXX") || exit 1
    trap 'rm -rf "$inside"' EXIT
    mkdir -p "$inside/tests" && cp rwkvx.h "$inside/" && cp tests/compile.c tests/compilers.sh "$inside/tests/" || exit 1
    chroot "$chroot_dir" bash "/tmp/${inside##*/}/tests/compilers.sh" $([ $quick = 1 ] && echo --quick) --only "$only" -j "$jobs" "${compilers[@]}"
    exit $?
fi

WARN="-Wall -Wextra -pedantic -Wshadow -Werror"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Every gcc and clang on PATH, one per version (gcc and gcc-12 are the same one)
find_compilers() {
    local seen="" c real
    for c in gcc $(compgen -c gcc- | grep -E '^gcc-[0-9]+$' | sort -uV) \
             clang $(compgen -c clang- | grep -E '^clang-[0-9]+$' | sort -uV); do
        real=$(readlink -f "$(command -v "$c")") || continue
        case "$seen" in *"|$real|"*) continue ;; esac
        seen="$seen|$real|"
        echo "$c"
    done
}

cxx_of() { # the C++ driver beside a C driver, by name
    local c=$1 dir base
    dir=$(dirname "$c"); base=$(basename "$c")
    case $base in
        *clang*) base=${base/clang/clang++} ;;
        *gcc*) base=${base/gcc/g++} ;;
        *) return 1 ;;
    esac
    [ "$dir" = . ] && dir=""
    command -v "${dir:+$dir/}$base"
}

# probe DRIVER SOURCE FLAGS...: does this one-line C file compile with these flags?
probe() {
    local driver=$1; printf '%s\n' "$2" > "$TMP/probe.c"; shift 2
    "$driver" "$@" -c -o "$TMP/probe.o" "$TMP/probe.c" > /dev/null 2>&1
}

# The matrix, one build a line: OPT LANG ARCH OMP SIMD (ARCH/OMP/SIMD as words)
full_matrix() {
    local o l a p s
    for o in -O0 -O2 -O3 -Os; do for l in c99 c++11; do for a in native generic; do
        for p in omp noomp; do for s in simd nosimd; do echo "$o $l $a $p $s"; done; done
    done; done; done
}
# The quick subset: every value of every axis at least once, in 4 builds.
# The machine's SIMD kernels are optimised by the project's own -Werror builds
# (gcc -O2 -march=native: make; clang: .ci/run's clang stage), so here they
# are compiled at -O0 only (clang took 37 s for them at -O2, the whole subset 45).
quick_matrix() {
    printf '%s\n' "-O2 c99 generic omp simd" "-O3 c++11 generic noomp nosimd" \
        "-Os c99 native omp nosimd" "-O0 c++11 native noomp simd"
}

# flags_of DRIVER_C DRIVER_CXX OPT LANG ARCH OMP SIMD: prints "DRIVER FLAGS..."
# or nothing when the compiler cannot do this build (no C++ driver, no omp.h,
# does not target this machine)
flags_of() {
    local cc=$1 cxx=$2 o=$3 l=$4 a=$5 p=$6 s=$7 driver flags
    if [ "$l" = c99 ]; then driver=$cc; flags="-std=c99"; else driver=$cxx; flags="-x c++ -std=c++11"; fi
    [ -n "$driver" ] || return 0
    [ "$a" = native ] && { [ "$has_native" = 1 ] || return 0; flags="$flags -march=native"; }
    [ "$p" = omp ] && { [ "$has_omp" = 1 ] || return 0; flags="$flags -fopenmp"; }
    [ "$s" = nosimd ] && flags="$flags -DRWKVX_NO_SIMD -DRWKVX_NO_MMAP"
    # every API function static: the -Os portable builds (unused ones are then
    # not compiled, so only there)
    [ "$s" = nosimd ] && [ "$o" = -Os ] && flags="$flags -DRWKVX_STATIC"
    # glibc's checked string functions, as Ubuntu's gcc enables them when optimising
    [ "$o" = -O0 ] || flags="$flags -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3"
    echo "$driver $flags $o $WARN"
}

status=0
total=0
[ ${#compilers[@]} -gt 0 ] || mapfile -t compilers < <(find_compilers)
if [ ${#compilers[@]} -eq 0 ]; then echo "compilers.sh: no gcc or clang found" >&2; exit 1; fi
for cc in "${compilers[@]}"; do
    if ! command -v "$cc" > /dev/null; then echo "$cc: not installed"; status=1; continue; fi
    cxx=$(cxx_of "$cc" || true)
    has_native=0; probe "$cc" 'int main(void) { return 0; }' -march=native && has_native=1
    has_omp=0; probe "$cc" '#include <omp.h>
int main(void) { return omp_get_max_threads() < 0; }' -fopenmp && has_omp=1
    version=$("$cc" --version | head -1)
    builds=0; bad=0; skipped=0; n=0
    while read -r o l a p s; do
        cmd=$(flags_of "$cc" "$cxx" "$o" "$l" "$a" "$p" "$s")
        if [ -z "$cmd" ]; then skipped=$((skipped + 1)); continue; fi
        n=$((n + 1))
        echo "$cmd" > "$TMP/cmd.$n"
        # shellcheck disable=SC2086
        ( $cmd -c -o "$TMP/out.$n.o" tests/compile.c > "$TMP/log.$n" 2>&1; echo $? > "$TMP/rc.$n" ) &
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    done < <(if [ $quick = 1 ]; then quick_matrix; else full_matrix; fi | grep -E -- "${only:-.}")
    wait
    for i in $(seq 1 $n); do
        builds=$((builds + 1))
        if [ "$(cat "$TMP/rc.$i")" != 0 ] || [ -s "$TMP/log.$i" ]; then
            bad=$((bad + 1))
            echo "  FAIL: $(cat "$TMP/cmd.$i")"
            grep -m 3 -E 'warning|error' "$TMP/log.$i" | sed 's/^/    /'
        fi
        rm -f "$TMP/cmd.$i" "$TMP/log.$i" "$TMP/rc.$i" "$TMP/out.$i.o"
    done
    notes=""
    [ -n "$cxx" ] || notes="$notes, no C++ driver"
    [ $has_native = 1 ] || notes="$notes, no -march=native"
    [ $has_omp = 1 ] || notes="$notes, no OpenMP"
    [ $skipped -gt 0 ] && notes="$notes: $skipped builds skipped"
    printf '%-24s %3d builds, %d warned or failed  (%s%s)\n' "$cc" "$builds" "$bad" "$version" "$notes"
    total=$((total + builds))
    [ $bad -eq 0 ] || status=1
    [ $builds -gt 0 ] || status=1
done
echo "$total builds over ${#compilers[@]} compilers: $([ $status = 0 ] && echo 'no warnings' || echo 'FAILED')"
exit $status
