#!/usr/bin/env bats
# What ships: the library and tools load on older glibc (the sidecar preloads
# them into application images older than the build machine).

load helpers
bats_require_minimum_version 1.5.0

@test "glibc: the library and tools need no symbol version newer than GLIBC_2.28" {
    host_only && return 0
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
    host_only && return 0
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
    host_only && return 0
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

@test "make install / uninstall: PREFIX and DESTDIR, a stripped library, man pages, nothing else touched" {
    host_only && return 0
    local stage="$BATS_TEST_TMPDIR/stage" prefix="$BATS_TEST_TMPDIR/prefix" v
    v=$(make -s -C "$REPO" version)
    [[ "$v" == "$(sed -n 's/^#define KTLS_SHIM_VERSION "\(.*\)"$/\1/p' "$REPO/shim/0-pure/version.h")" ]]
    # -o: use what `make` built; the guest sees the repository read-only
    local keep=(-o build/libktls-shim.so -o build/ktls-run -o build/ktls-check -o build/ktls-stats)
    make -s -C "$REPO" "${keep[@]}" install DESTDIR="$stage" PREFIX=/usr/local
    local lib=$stage/usr/local/lib/libktls-shim.so
    [[ "$(stat -c %a "$lib")" == 644 && -x "$stage/usr/local/bin/ktls-run" && -x "$stage/usr/local/bin/ktls-check" ]]
    [[ -x "$stage/usr/local/bin/ktls-stats" ]]
    # stripped (no .symtab), still the same library: interposers exported, version marker kept
    ! readelf -S "$lib" | grep -q '\.symtab' || false
    ! readelf -S "$stage/usr/local/bin/ktls-run" | grep -q '\.symtab' || false
    [[ $(stat -c %s "$lib") -lt $(stat -c %s "$SHIM") ]]
    "$REPO/tests/check-exports.sh" "$lib"
    [[ "$(nm -D --defined-only "$lib" | sort)" == "$(nm -D --defined-only "$SHIM" | sort)" ]]
    # man pages, with the version (also read from the repository: man -l
    # shim/man/...), rendering without warnings
    local page
    for page in "$REPO"/shim/man/*.[1-9]; do
        [[ "$(head -n 1 "$page")" == *"\"ktls-shim $v\""* ]] || { echo "$page: not version $v"; return 1; }
    done
    for page in man1/ktls-run.1 man1/ktls-check.1 man1/ktls-stats.1 man7/ktls-shim.7; do
        [[ "$(head -n 1 "$stage/usr/local/share/man/$page")" == *"\"ktls-shim $v\""* ]]
        run groff -man -Tutf8 -ww -z "$stage/usr/local/share/man/$page"
        [[ $status == 0 && -z "$output" ]]
    done
    # a real prefix: the installed ktls-run finds and checks its library
    mkdir -p "$prefix/bin" "$prefix/share/man/man1"
    echo keep >"$prefix/bin/other-tool"
    echo keep >"$prefix/share/man/man1/other.1"
    make -s -C "$REPO" "${keep[@]}" install PREFIX="$prefix"
    run "$prefix/bin/ktls-run" --version
    [[ "${lines[1]}" == "library: $prefix/lib/libktls-shim.so, ktls-shim $v" ]]
    run --separate-stderr "$prefix/bin/ktls-run" --quiet -- sh -c 'echo "$LD_PRELOAD"'
    [[ $status == 0 && "$output" == "$prefix/lib/libktls-shim.so" ]]
    local want=0 got=0
    "$REPO/build/ktls-check" >/dev/null 2>&1 || want=$?
    "$prefix/bin/ktls-check" >/dev/null 2>&1 || got=$?
    [[ $got == "$want" ]]
    run man -M "$prefix/share/man" -P cat ktls-shim
    [[ "$output" == *KTLS_SHIM_STATS_INTERVAL* ]]
    # uninstall: exactly what install put there
    make -s -C "$REPO" uninstall PREFIX="$prefix"
    make -s -C "$REPO" uninstall DESTDIR="$stage" PREFIX=/usr/local
    [[ "$(cd "$prefix" && find . -type f | sort | tr '\n' ' ')" == "./bin/other-tool ./share/man/man1/other.1 " ]]
    [[ -z "$(find "$stage" -type f)" ]]
}

@test "docs: every knob and every fallback reason the code has is in the docs' tables and ktls-shim(7)" {
    host_only && return 0
    local knobs reasons k
    knobs=$(grep -o '"KTLS_SHIM[A-Z_]*"' "$REPO/shim/1-platform/config.c" | tr -d '"' | sort -u)
    [[ $(wc -l <<<"$knobs") -ge 9 ]]
    for k in $knobs; do
        grep -q "^| \`$k\` |" "$REPO/shim/docs/use.md" || { echo "use.md's knob table lacks $k"; return 1; }
        grep -q "^\.B $k\$" "$REPO/shim/man/ktls-shim.7" || { echo "ktls-shim.7 lacks $k"; return 1; }
    done
    # reason keys as the stats spell them: the text before " (" of each entry
    # of the one table (shim/0-pure/reason.c), spaces as '-'
    reasons=$(python3 - "$REPO/shim/0-pure/reason.c" <<'PY'
import re, sys
keys = set()
for m in re.finditer(r'\[FB_[A-Z0-9_]+\]\s*=\s*"((?:[^"\\]|\\.)*)"', open(sys.argv[1]).read()):
    keys.add(m.group(1).split(" (")[0].replace(" ", "-"))
keys.discard("none")  # no reason: the direction moved
print("\n".join(sorted(keys)))
PY
)
    echo "$reasons"
    [[ $(wc -l <<<"$reasons") -ge 20 ]]
    for k in $reasons; do
        grep -q "^|.*\`$k\`.*|" "$REPO/shim/docs/troubleshooting.md" || { echo "troubleshooting.md's table lacks $k"; return 1; }
        grep -qF "\\fB$k\\fR" "$REPO/shim/man/ktls-shim.7" || { echo "ktls-shim.7 lacks $k"; return 1; }
    done
}

@test "docs: the README's first screen says what it needs; user docs speak to users" {
    host_only && return 0
    local first
    first=$(head -n 24 "$REPO/README.md")
    [[ "$first" == *"Requirements"* && "$first" == *Linux* && "$first" == *CONFIG_TLS* ]]
    [[ "$first" == *"glibc"*"2.28"* && "$first" == *"build-essential libssl-dev"* ]]
    # the light test next to the quick start, and make test beside it
    grep -q '^make test-unit ' "$REPO/README.md"
    grep -q '^- `make test-unit`: the light one' "$REPO/README.md"
    grep -q '^- `make test`: everything' "$REPO/README.md"
    grep -q 'ss -tie' "$REPO/README.md" && grep -q 'tcp-ulp-tls' "$REPO/README.md"
    grep -q 'Environment=LD_PRELOAD=' "$REPO/README.md"
    # no talk of the machines this was built on
    run grep -rniE 'these (build )?machines' "$REPO/README.md" "$REPO/demo" "$REPO/shim/man" "$REPO/shim/docs" \
        "$REPO/tests/README.md" --include='*.md' --include='*.[17]' --include='*.yaml'
    [[ $status == 1 ]]
}

@test "docs: the copies in the docs agree with the files: what make builds, the stats JSON's fields, each tool's options" {
    host_only && return 0
    # the quick start's make line names every file make builds for users
    local built quick f
    built=$(make -s -C "$REPO" --eval 'show-built: ; @echo $(LIB) $(TOOLS)' show-built)
    quick=$(grep -m1 '^make  *# ' "$REPO/README.md")
    for f in $built; do
        [[ "$quick" == *"${f##*/}"* ]] || { echo "the quick start's make line lacks ${f##*/}: $quick"; return 1; }
    done
    [[ "$quick" == *"test programs"* ]] # make builds those too
    # the JSON example has the fields a real stats file has, no more, no fewer
    local dir=$BATS_TEST_TMPDIR real example
    LD_PRELOAD="$SHIM" KTLS_SHIM_STATS="$dir/st" python3 -c \
        'import ssl; ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())'
    real=$(jq -c '[paths(type | . != "object" and . != "array") | map(tostring) | join(".") | select(test("fallback|^arms.control") | not)] | sort' "$dir"/st.*.json)
    example=$(sed -n '/^```json$/,/^```$/p' "$REPO/shim/docs/use.md" | sed '1d;$d; s/{\.\.\.}/{}/g' |
        jq -c '[paths(type | . != "object" and . != "array") | map(tostring) | join(".") | select(test("fallback|^arms.control") | not)] | sort')
    [[ "$real" == "$example" ]] || { diff <(jq -r '.[]' <<<"$real") <(jq -r '.[]' <<<"$example"); return 1; }
    # every option a tool's --help names is in its section of use.md and in
    # its man page, and the section's "Options:" list names no other (but
    # -h/--help); the man page's OPTIONS are that list (tables.py --check)
    local tool opt section helped listed
    for tool in ktls-run ktls-stats ktls-check; do
        section=$(awk -v h="### $tool" '$0 == h { on = 1; next } on && /^(#|##|###) / { exit } on' "$REPO/shim/docs/use.md")
        [[ -n $section ]] || { echo "use.md has no section '### $tool'"; return 1; }
        helped=$("$REPO/build/$tool" --help | grep -oE '(^|[ [])--[a-z-]+' | tr -d ' [' | sort -u)
        [[ -n $helped ]] || { echo "$tool --help names no option"; return 1; }
        for opt in $helped; do
            [[ "$section" == *"$opt"* ]] || { echo "use.md's $tool section lacks $opt"; return 1; }
            grep -qF -- "\\-\\-${opt#--}" "$REPO/shim/man/$tool.1" || { echo "$tool.1 lacks $opt"; return 1; }
        done
        listed=$(sed -n '/^Options:$/,/^$/p' <<<"$section" | sed -n 's/^- `\(--[a-z-]*\)`.*/\1/p' | sort -u)
        [[ -n $listed ]] || { echo "use.md's $tool section has no Options: list"; return 1; }
        for opt in $listed; do
            [[ $opt == --help ]] || grep -qx -- "$opt" <<<"$helped" || { echo "use.md lists $opt, which $tool --help does not name"; return 1; }
        done
    done
}

@test "docs: design.md's Layout names each layer folder's files, in that folder's entry, and no others" {
    host_only && return 0
    local layout dir entry want have
    layout=$(sed -n '/^## Layout$/,/^## /p' "$REPO/shim/docs/design.md")
    [[ -n $layout ]]
    for dir in "$REPO"/shim/[0-9]-*/; do
        dir=$(basename "$dir")
        # the entry: from its "  - `DIR/`" line to the next entry
        entry=$(awk -v d="  - \`$dir/\`" 'index($0, d) == 1 { on = 1; print; next } on && /^ *- / { exit } on' <<<"$layout")
        [[ -n $entry ]] || { echo "design.md's Layout has no entry for shim/$dir/"; return 1; }
        want=$(cd "$REPO/shim/$dir" && ls -- *.c | sort)
        have=$(grep -oE '`[a-z_]+\.c`' <<<"$entry" | tr -d '`' | sort -u)
        [[ "$want" == "$have" ]] || { diff <(echo "$want") <(echo "$have"); echo "shim/$dir/ vs its design.md entry"; return 1; }
    done
}

@test "systemd drop-in: systemd reads it, and it preloads the installed library" {
    host_only && return 0
    requires systemd-analyze
    local d=$BATS_TEST_TMPDIR/units
    mkdir -p "$d/ktls-demo.service.d"
    printf '[Service]\nExecStart=/bin/true\n' >"$d/ktls-demo.service"
    cp "$REPO/demo/systemd/ktls-shim.conf" "$d/ktls-demo.service.d/"
    run env SYSTEMD_LOG_LEVEL=debug systemd-analyze verify "$d/ktls-demo.service"
    [[ $status == 0 ]]
    [[ "$output" != *"Unknown key"* && "$output" != *"Invalid"* ]]
    [[ "$output" == *"DropIn Path: $d/ktls-demo.service.d/ktls-shim.conf"* ]]
    [[ "$output" == *"Environment: LD_PRELOAD=/usr/local/lib/libktls-shim.so"* ]]
    [[ "$output" == *"RuntimeDirectoryMode: 1733"* && "$output" == *"RuntimeDirectoryPreserve: yes"* ]]
    # the same library path make install uses by default
    grep -q '^PREFIX ?= /usr/local$' "$REPO/Makefile"
    # the README's copy is the file's settings, line for line (it had lost
    # KTLS_SHIM_LOG)
    local readme file
    readme=$(sed -n '/^# \/etc\/systemd\/system\/nginx.service.d\/ktls-shim.conf$/,/^```$/p' "$REPO/README.md" |
        grep -v '^#\|^```')
    file=$(grep -v '^#' "$REPO/demo/systemd/ktls-shim.conf")
    [[ -n $readme && "$readme" == "$file" ]]
}

# The installed page said only "the README's troubleshooting table says what
# each means", and make install does not install the README. The docs hold
# the knob, reason and option tables; shim/man/tables.py copies them into
# the man pages.
@test "man pages: their knob, reason and option tables are the docs' (shim/man/tables.py --check)" {
    host_only && return 0
    "$REPO/shim/man/tables.py" --check
    run man -l "$REPO/shim/man/ktls-shim.7"
    [[ "$output" == *"What to do: ktls-check says which case"* ]]
    [[ "$output" == *KTLS_SHIM_POST_HANDSHAKE_AUTH* ]]
    run man -l "$REPO/shim/man/ktls-stats.1"
    [[ "$output" == *"tls-stat FILE|none"* ]]
}

@test "man pages: tables.py --check fails when a doc's table and its page differ, and --update mends it" {
    host_only && return 0
    local r=$BATS_TEST_TMPDIR/r
    mkdir -p "$r/shim"
    cp -r "$REPO/shim/docs" "$REPO/shim/man" "$r/shim/"
    "$r/shim/man/tables.py" --check
    # a knob's default, a reason's advice, an option's text, each in one doc
    sed -i 's/^| `KTLS_SHIM_KEY_UPDATE_MAX` | `0`..`1000000` | `32` |/| `KTLS_SHIM_KEY_UPDATE_MAX` | `0`..`1000000` | `33` |/' "$r/shim/docs/use.md"
    sed -i 's/| load the module on the host |/| load the tls module on the host |/' "$r/shim/docs/troubleshooting.md"
    sed -i 's/^- `--prometheus`: the Prometheus text format/- `--prometheus`: the Prometheus (text) format/' "$r/shim/docs/use.md"
    run "$r/shim/man/tables.py" --check
    echo "$output"
    [[ $status == 1 ]]
    [[ "$output" == *'+Values: \fB0\fR..\fB1000000\fR. Default: \fB33\fR.'* ]]
    [[ "$output" == *'+What to do: load the tls module on the host'* ]]
    [[ "$output" == *'+The Prometheus (text) format instead of the summary.'* ]]
    "$r/shim/man/tables.py" --update
    "$r/shim/man/tables.py" --check
    grep -qx 'What to do: load the tls module on the host' "$r/shim/man/ktls-shim.7"
    # a page without its markers is an error, not a silent pass
    sed -i '/^\.\\" end ktls-check options$/d' "$r/shim/man/ktls-check.1"
    run "$r/shim/man/tables.py" --check
    [[ $status == 2 && "$output" == *"ktls-check.1: no one pair of lines"* ]]
}

@test "docs: README.md is a front page: under 200 lines, its local links resolve, its contents name every document" {
    host_only && return 0
    [[ $(wc -l <"$REPO/README.md") -lt 200 ]]
    # every relative link in every document (the README's included) names a
    # file or folder that exists and, for a #fragment into markdown, one of
    # its headings as GitHub makes their anchors
    python3 - "$REPO" <<'PY'
import os, re, sys
repo = sys.argv[1]

def anchors(path):
    out, fenced = set(), False
    for line in open(path):
        if line.startswith("```"):
            fenced = not fenced
        m = re.match(r"#{1,6} (.*)", line)
        if m and not fenced:
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out

docs = []
for top, dirs, files in os.walk(repo):
    dirs[:] = [d for d in dirs if d not in (".git", "build")]
    docs += [os.path.join(top, f) for f in files if f.endswith(".md")]
bad, readme_links = [], set()
for doc in docs:
    text = re.sub(r"```.*?```", "", open(doc).read(), flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, frag = target.partition("#")
        path = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
        where = os.path.relpath(doc, repo)
        if doc == os.path.join(repo, "README.md"):
            readme_links.add(os.path.relpath(path, repo))
        if not os.path.exists(path):
            bad.append("%s: %s: no such file" % (where, target))
        elif frag and path.endswith(".md") and frag not in anchors(path):
            bad.append("%s: %s: no such heading" % (where, target))
# the front page links every document: shim/docs/*.md and each folder's README
for doc in docs:
    rel = os.path.relpath(doc, repo)
    if (rel.startswith("shim/docs/") or os.path.basename(rel) == "README.md") and rel != "README.md" \
            and rel not in readme_links:
        bad.append("README.md does not link %s" % rel)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
}
