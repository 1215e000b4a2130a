#!/usr/bin/env bash
# Builds the libFuzzer targets into build/fuzz/ with clang++ directly (no CMake change needed).
#
#   fuzz/build.sh [target...]        targets: request_parser reply_framer config_loader url_template
#
# Each target is fuzz/<target>.cpp plus the pure sources it needs from src/ (no Asio), built with
#   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I include
# (-fno-sanitize-recover=undefined so that a UBSan report stops the run like an ASan one).
# Objects are kept in build/fuzz/obj and rebuilt only when a source, a header it includes
# (from the -MMD dependency file) or the flags change. One compiler at a time; before each
# compile it waits (bounded: FUZZ_BUILD_WAIT seconds, default 1800) while another C++ build
# (cc1plus, ninja, clang) runs, since the machine is shared.
#
# Needs: clang-14 and libclang-rt-14-dev (libFuzzer, sanitizers), libyaml-cpp-dev, libfmt-dev,
# libcli11-dev; when something is missing it runs scripts/install-deps.sh clang-14
# libclang-rt-14-dev (apt-get, as root). CXX_FUZZ=... picks another clang++.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

all_targets=(request_parser reply_framer config_loader url_template)
sources_for() {
    case "$1" in
        request_parser) echo "src/resp/request_parser.cpp" ;;
        reply_framer) echo "src/resp/reply_framer.cpp src/resp/request_parser.cpp" ;;
        config_loader) echo "src/config/config.cpp src/config/units.cpp src/util/address.cpp src/herd/route.cpp src/util/upstream_url.cpp src/resp/request_parser.cpp" ;;
        url_template) echo "src/herd/route.cpp src/util/upstream_url.cpp" ;;
        *) return 1 ;;
    esac
}
libs_for() {
    case "$1" in
        config_loader) echo "-lyaml-cpp -lfmt" ;;
        url_template) echo "-lfmt" ;;  # upstream_url.cpp words its problems with fmt
        *) echo "" ;;
    esac
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    sources_for "$t" >/dev/null || { echo "fuzz/build.sh: unknown target '$t' (have: ${all_targets[*]})" >&2; exit 2; }
done

# ---- toolchain ---------------------------------------------------------------------------------
CXX=${CXX_FUZZ:-}
if [ -z "$CXX" ]; then
    if command -v clang++-14 >/dev/null; then CXX=clang++-14
    elif command -v clang++ >/dev/null; then CXX=clang++
    fi
fi
libfuzzer_present() {
    [ -n "$CXX" ] && ls "$("$CXX" -print-resource-dir)"/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1
}
if ! libfuzzer_present || ! [ -f /usr/include/yaml-cpp/yaml.h ] || ! [ -d /usr/include/CLI ]; then
    # Same convention as scripts/run.sh and scripts/test.sh: install what is missing (Debian
    # packages only, idempotent; needs root).
    echo "fuzz/build.sh: installing the fuzzing toolchain (clang-14, libclang-rt-14-dev)" >&2
    scripts/install-deps.sh clang-14 libclang-rt-14-dev
    CXX=clang++-14
    libfuzzer_present || { echo "fuzz/build.sh: $CXX has no libFuzzer runtime" >&2; exit 2; }
fi

out=build/fuzz
obj=$out/obj
mkdir -p "$obj"

# shellcheck disable=SC2054  # the commas belong to -fsanitize=
CXXFLAGS=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
          -fno-sanitize-recover=undefined -I include -I fuzz -Wall -Wextra)
# shellcheck disable=SC2054
LDFLAGS=(-fsanitize=fuzzer,address,undefined)
flags_id=$(printf '%s\n' "$("$CXX" --version | head -1)" "${CXXFLAGS[@]}" | sha1sum | cut -c1-12)

# ---- wait for other builds (shared 2-core machine) --------------------------------------------
wait_for_other_builds() {
    local waited=0 limit=${FUZZ_BUILD_WAIT:-1800} others
    while true; do
        # Process names only (not -f): a shell whose command line mentions "clang" is no build.
        others=$(pgrep -a '^(cc1plus|cc1|ninja|clang.*)$' 2>/dev/null || true)
        [ -z "$others" ] && return 0
        if [ "$waited" -ge "$limit" ]; then
            echo "fuzz/build.sh: another C++ build is still running after ${limit}s, giving up:" >&2
            echo "$others" | cut -c1-160 >&2
            exit 3
        fi
        [ "$waited" -eq 0 ] && echo "fuzz/build.sh: waiting for another C++ build to finish..." >&2
        sleep 10
        waited=$((waited + 10))
    done
}

# ---- compile (incremental) --------------------------------------------------------------------
# An object is stale when missing, built with other flags, or older than any file in its .d.
stale() {
    local o=$1 d=$1.d s=$1.flags
    [ -f "$o" ] && [ -f "$d" ] && [ -f "$s" ] || return 0
    [ "$(cat "$s")" = "$flags_id" ] || return 0
    local f
    # shellcheck disable=SC2013  # a .d file is whitespace-separated paths
    for f in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$d"); do
        [ -e "$f" ] || return 0
        [ "$f" -nt "$o" ] && return 0
    done
    return 1
}

compile() {  # compile SRC, leaving its object's path in $compiled
    local src=$1
    local o="$obj/${src//\//_}.o"
    if stale "$o"; then
        wait_for_other_builds
        echo "  CXX $src" >&2
        "$CXX" "${CXXFLAGS[@]}" -MMD -MF "$o.d" -c "$src" -o "$o"
        echo "$flags_id" >"$o.flags"
    fi
    compiled=$o
}

for t in "${targets[@]}"; do
    objs=()
    for src in "fuzz/$t.cpp" $(sources_for "$t"); do
        compile "$src"
        objs+=("$compiled")
    done
    bin=$out/$t
    relink=0
    [ -f "$bin" ] || relink=1
    for o in "${objs[@]}"; do [ "$o" -nt "$bin" ] && relink=1; done
    if [ $relink = 1 ]; then
        wait_for_other_builds
        echo "  LINK $bin" >&2
        # shellcheck disable=SC2046
        "$CXX" "${LDFLAGS[@]}" "${objs[@]}" $(libs_for "$t") -o "$bin"
    fi
    echo "built $root/$bin"
done
