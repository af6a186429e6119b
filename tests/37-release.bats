#!/usr/bin/env bats
# What ships: the library and tools load on older glibc (the sidecar preloads
# them into application images older than the build machine).

load helpers
bats_require_minimum_version 1.5.0

@test "glibc: the library and tools need no symbol version newer than GLIBC_2.28" {
    requires objdump readelf
    run make -s -C "$REPO" -o build/libktls-shim.so -o build/ktls-run -o build/ktls-check check-glibc
    echo "$output"
    [[ $status == 0 && "$output" == "glibc ok: "* ]]
    local f newest
    for f in "$SHIM" "$REPO/build/ktls-run" "$REPO/build/ktls-check"; do
        newest=$(objdump -T "$f" | grep -o 'GLIBC_[0-9][0-9.]*' | sort -u -V | tail -n 1)
        echo "$f: $newest"
        [[ "$(printf '%s\n' "$newest" GLIBC_2.28 | sort -V | tail -n 1)" == GLIBC_2.28 ]]
    done
    # before glibc 2.34 the loader looks for a versioned symbol in the file
    # the version names: dlsym must be asked of libdl.so.2, not libc.so.6
    readelf -W -V "$SHIM" | grep -A1 'File: libdl.so.2' | grep -q 'Name: GLIBC_2.2.5'
    readelf -d "$SHIM" | grep -q 'NEEDED.*\[libdl.so.2\]'
}

@test "glibc: the check fails for a library linked the ordinary way (it can fail)" {
    requires objdump readelf
    local lib=$BATS_TEST_TMPDIR/plain.so
    printf '#include <dlfcn.h>\nvoid *f(void) { return dlsym(RTLD_NEXT, "x"); }\n' >"$BATS_TEST_TMPDIR/p.c"
    cc -shared -fPIC "$BATS_TEST_TMPDIR/p.c" -o "$lib" -ldl
    run "$REPO/shim/glibc/check-glibc.sh" GLIBC_2.28 "$lib"
    echo "$output"
    [[ $status == 1 ]]
    if objdump -T "$lib" | grep -q 'GLIBC_2\.3[4-9]'; then
        [[ "$output" == *"needs GLIBC_2.3"*"dlsym"* ]]
    fi
    # pinning the version alone still names the wrong file for older loaders
    printf '#include <dlfcn.h>\n__asm__(".symver dlsym, dlsym@GLIBC_2.2.5");\nvoid *f(void) { return dlsym(RTLD_NEXT, "x"); }\n' \
        >"$BATS_TEST_TMPDIR/s.c"
    cc -shared -fPIC "$BATS_TEST_TMPDIR/s.c" -o "$lib" -ldl
    run "$REPO/shim/glibc/check-glibc.sh" GLIBC_2.28 "$lib"
    echo "$output"
    if readelf -W -V "$lib" | grep -A1 'File: libc.so.6' | grep -q GLIBC_2.2.5; then
        [[ $status == 1 && "$output" == *"dlsym (from libc.so.6, not libdl.so.2)"* ]]
    fi
}

@test "glibc: the tools' constructors and destructors still run once (pinned entry point)" {
    [[ "$(cc -dumpmachine)" == x86_64-* ]] || skip "the base version GLIBC_2.2.5 is x86_64's"
    local d=$BATS_TEST_TMPDIR
    cat >"$d/c.c" <<'C'
#include <stdio.h>
__attribute__((constructor)) static void up(int argc, char **argv) { printf("ctor %d %s\n", argc, argv[1]); }
__attribute__((destructor)) static void down(void) { printf("dtor\n"); }
int main(int argc, char **argv) { printf("main %d %s\n", argc, argv[1]); return 7; }
C
    cc -std=c11 "$d/c.c" "$REPO/shim/glibc/start.c" -DKTLS_GLIBC_BASE='"GLIBC_2.2.5"' \
        -Wl,--wrap=__libc_start_main -o "$d/c"
    run -7 "$d/c" arg
    [[ "$output" == $'ctor 2 arg\nmain 2 arg\ndtor' ]]
    objdump -T "$d/c" | grep -q '(GLIBC_2.2.5) *__libc_start_main'
}
