# BASH_ENV of every non-interactive bash in the guests (run-in-guest.sh):
# sleep, seq and rm as bash's loadable builtins (Debian's bash-builtins),
# where they are installed. A program start costs 0.06-0.2 s under the
# emulated CPU, and the suite polls with `sleep 0.05` and bats makes and
# removes a directory per test (tests/36-stats.bats in the 6.1 guest: 128 s,
# 96 s with these). mkdir stays the program: the loadable one applies the
# umask to -m's mode.
for b in sleep seq rm; do
    [[ -r /usr/lib/bash/$b ]] && enable -f "/usr/lib/bash/$b" "$b" 2>/dev/null
done
unset b
