#!/usr/bin/env bash
# apt.sh apt-get|apt-cache ARGS...: apt with a private configuration that adds
# the Debian suites the test matrix needs (bullseye, bookworm, trixie,
# trixie-backports; binary and source) without touching the machine's own apt
# state: own sources list, lists and cache directories under the cache root,
# so this machine stays on its release. The mirror is the one this machine's
# apt already uses (read from its sources), so no host is named here.
# The index is refreshed when it is missing or older than a day.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/cache.sh
. "$here/cache.sh"
dir=$KTLS_CACHE/apt
suites="bullseye bookworm trixie trixie-backports"

# The first http(s) URI of the machine's Debian archive (deb822 or one-line form).
mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r $f ]] || continue
        if [[ $f == *.sources ]]; then
            uri=$(awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f" |
                grep -E '^https?://' | grep -v -- '-security' | head -n1)
        else
            uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\//) { print $i; break } }' "$f" |
                grep -v -- '-security' | head -n1)
        fi
        # only an archive that carries Debian's dists (not a vendor repository)
        [[ -n $uri && $uri == */debian ]] && { echo "$uri"; return 0; }
    done
    return 1
}

opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
      -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache"
      -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
      -o "APT::Sandbox::User=root" -o "Acquire::Retries=3")

refresh() {
    local uri keyring=/usr/share/keyrings/debian-archive-keyring.gpg s
    uri=$(mirror) || { echo "apt.sh: no Debian archive found in /etc/apt sources" >&2; exit 1; }
    [[ -r $keyring ]] || { echo "apt.sh: $keyring missing (apt-get install debian-archive-keyring)" >&2; exit 1; }
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
    {
        for s in $suites; do
            echo "deb [signed-by=$keyring] $uri $s main"
            echo "deb-src [signed-by=$keyring] $uri $s main"
        done
    } >"$dir/sources.list.tmp"
    mv "$dir/sources.list.tmp" "$dir/sources.list"
    echo "apt.sh: updating the private index ($suites) from $uri" >&2
    apt-get "${opts[@]}" -q update >&2
    touch "$dir/updated"
}

mkdir -p "$dir"
exec 9>"$dir/lock"
flock 9
if [[ ! -e $dir/updated || -n $(find "$dir/updated" -mmin +1440) || ! -s $dir/sources.list ]]; then
    refresh
fi
flock -u 9

tool=${1:?usage: apt.sh apt-get|apt-cache ARGS...}
shift
case $tool in
apt-get | apt-cache) exec "$tool" "${opts[@]}" "$@" ;;
*) echo "apt.sh: only apt-get and apt-cache" >&2; exit 2 ;;
esac
