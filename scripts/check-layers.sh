#!/usr/bin/env bash
# Checks the layer map of docs/DESIGN.md: a folder of src/ and include/herdguard/ may include
# only folders below it in this order (and itself), so no include cycle can come back.
# Prints each include that breaks the order and exits 1; silent and 0 when the map holds.
set -euo pipefail
cd "$(dirname "$0")/.."

layers=(util stats resp config tls loader upstream herd metrics admin server)
rank() {
    local i
    for i in "${!layers[@]}"; do [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }; done
    echo -1
}

status=0
while IFS= read -r line; do
    file=${line%%:*}
    target=$(sed -E 's|.*#include "herdguard/([a-z_]+)/.*|\1|' <<<"$line")
    case "$file" in
        src/main.cpp) continue ;;  # the composition root includes what it wires
        include/herdguard/*) from=$(cut -d/ -f3 <<<"$file") ;;
        src/*) from=$(cut -d/ -f2 <<<"$file") ;;
        *) continue ;;
    esac
    [ "$from" = "$target" ] && continue
    rf=$(rank "$from")
    rt=$(rank "$target")
    if [ "$rf" -lt 0 ] || [ "$rt" -lt 0 ]; then
        echo "$file: folder '$from' or '$target' is not in the layer map (scripts/check-layers.sh, docs/DESIGN.md)"
        status=1
    elif [ "$rt" -gt "$rf" ]; then
        echo "$file: $from/ may not include $target/ (a higher layer): ${line#*:}"
        status=1
    fi
done < <(grep -rn '#include "herdguard/' src include | sed -E 's/^([^:]+):[0-9]+:/\1:/')
exit $status
