#!/bin/sh
# check-glibc.sh MAX FILE...: FILE needs no glibc symbol version newer than
# MAX (e.g. GLIBC_2.28), and asks for dl* and pthread_* from libdl.so.2 and
# libpthread.so.0, where a glibc older than 2.34 has them (see stubs.c).
# objdump/readelf from binutils. Exit 1 with one line per problem.
set -eu
max=${1:?usage: check-glibc.sh MAX FILE...}
shift
rc=0
for f in "$@"; do
    newest=$(objdump -T "$f" | grep -o 'GLIBC_[0-9][0-9.]*' | sort -u -V | tail -n 1)
    if [ -z "$newest" ]; then
        echo "check-glibc: $f: no glibc symbol versions found (not a dynamic glibc binary?)" >&2
        rc=1
    elif [ "$(printf '%s\n%s\n' "$newest" "$max" | sort -V | tail -n 1)" != "$max" ]; then
        echo "check-glibc: $f needs $newest, newer than $max:" \
            "$(objdump -T "$f" | awk '/GLIBC_/ {print $NF, $(NF-1)}' | grep -F "$newest" | cut -d' ' -f1 | tr '\n' ' ')" >&2
        rc=1
    fi
    # "Version needs" lists File: X then Name: V ... Version: N; the dynamic
    # symbols show name@V (N): N says which file a symbol is asked of.
    wrong=$(readelf -W -V --dyn-syms "$f" | awk '
        /File:/ { for (i = 1; i < NF; i++) if ($i == "File:") file = $(i + 1) }
        /Name:/ && /Version:/ { for (i = 1; i < NF; i++) if ($i == "Version:") from[$(i + 1)] = file }
        / UND / && $(NF - 1) ~ /^(dl|pthread_)[a-z_]*@GLIBC/ { n = $(NF - 1); sub(/@.*/, "", n); idx = $NF; gsub(/[()]/, "", idx); und[n] = idx }
        END {
            for (n in und) {
                want = n ~ /^dl/ ? "libdl.so.2" : "libpthread.so.0"
                if (from[und[n]] != want) print n " (from " from[und[n]] ", not " want ")"
            }
        }')
    if [ -n "$wrong" ]; then
        echo "check-glibc: $f asks libc.so.6 for what a glibc before 2.34 has in libdl.so.2/libpthread.so.0:" $wrong >&2
        rc=1
    fi
done
[ $rc = 0 ] && echo "glibc ok: $* need at most $max"
exit $rc
