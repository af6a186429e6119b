#!/usr/bin/env bash
# Run a command inside a QEMU guest booting one of Debian's kernels
# (KTLS_VM_KERNEL: 5.10, 6.1 (default), 6.12 or 7.3; each has kTLS, the host
# kernel does not), in the caller's directory, and exit with the command's
# status.
# Usage: run-in-guest.sh [--timeout SECS] -- CMD [ARGS...]
# Env passed through: CI, KTLS_VM_KERNEL, KTLS_OSSL, the names in
# KTLS_VM_ENV; HOME=/tmp, TERM=dumb; PATH is the distribution's (KTLS_VM_PATH);
# BASH_ENV is tests/vm/bash-env.sh (KTLS_VM_BASH_ENV).
set -euo pipefail

usage() { echo "usage: $0 [--timeout SECS] -- CMD [ARGS...]" >&2; exit 2; }
secs=1800
while [[ $# -gt 0 ]]; do
    case $1 in
    --timeout) [[ ${2:-} =~ ^[0-9]+$ ]] || usage; secs=$2; shift 2 ;;
    --) shift; break ;;
    *) usage ;;
    esac
done
[[ $# -gt 0 ]] || usage

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/vm/cache.sh
. "$here/cache.sh"
kver=$("$here/fetch-kernel.sh" "${KTLS_VM_KERNEL:-6.1}")
initrd=$("$here/build-initramfs.sh" "$kver")
vmlinuz=$KTLS_VM_CACHE/kernel-$kver/vmlinuz

# The guest sees the host's / except for its own tmpfs on /tmp, /run and
# /var/tmp (the repository is carried through, see below) and /dev, /proc, /sys.
case $PWD/ in
$repo/*) ;;
/tmp/* | /run/* | /var/tmp/* | /dev/* | /proc/* | /sys/*)
    echo "run-in-guest: warning: $PWD is not the host's directory inside the guest" >&2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/ktls-vm.XXXXXX")
# If we are interrupted or killed, don't leave a VM running: timeout passes the
# TERM on to QEMU.
# shellcheck disable=SC2317  # only reached through the trap
cleanup() {
    if [[ -s $work/qemu-pid ]]; then kill "$(cat "$work/qemu-pid")" 2>/dev/null || true; fi
    wait || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
res=$work/results
mkdir "$res"

# Single-quote for the guest's /bin/sh (dash: no $'..' from printf %q).
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

{
    msg="run-in-guest: cannot cd to $PWD in the guest (/tmp, /run are guest tmpfs)"
    echo "cd $(q "$PWD") || { echo $(q "$msg") >&2; exit 125; }"
    echo "HOME=/tmp; TERM=dumb; export HOME TERM"
    # The distribution's PATH, /usr/bin first, not the host user's: every
    # `#!/usr/bin/env bash` (bats starts one per test) looks bash up along
    # it, and in the guest each miss is a trip over 9p (20 empty bats tests:
    # 48 s with a version manager's and a toolkit's directories in front,
    # 43 s without). KTLS_VM_PATH says otherwise.
    echo "PATH=$(q "${KTLS_VM_PATH:-/usr/bin:/usr/sbin:/usr/local/bin:/usr/local/sbin:/bin:/sbin}"); export PATH"
    # sleep, seq and rm as bash builtins in every bash script (bash-env.sh)
    echo "BASH_ENV=$(q "${KTLS_VM_BASH_ENV-$here/bash-env.sh}"); export BASH_ENV"
    for name in CI KTLS_VM_KERNEL KTLS_OSSL ${KTLS_VM_ENV:-}; do
        [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "run-in-guest: bad name in KTLS_VM_ENV: $name" >&2; exit 2; }
        # Unset variables stay unset in the guest.
        [[ -n ${!name+x} ]] || continue
        echo "$name=$(q "${!name}"); export $name"
    done
    printf 'exec'
    for a in "$@"; do printf ' %s' "$(q "$a")"; done
    echo
} >"$res/cmd"
# The guest puts tmpfs on these; a repository below one of them, and the
# cache (the matrix's OpenSSL builds, which test programs load by RPATH), are
# carried through by init (bind-mounted back in place), one path a line.
: >"$res/keep"
for p in "$repo" "$KTLS_CACHE"; do
    case $p/ in
    /tmp/* | /run/* | /var/tmp/*) [[ -d $p ]] && printf '%s\n' "$p" >>"$res/keep" ;;
    esac
done
: >"$res/stdout"
: >"$res/stderr"

# How the guest reads the host's root (tests/vm/init): cached (loose, the
# default) or not (none); and whether TCG runs each vCPU on a host thread of
# its own (multi, the default) or both on one (single).
root_cache=${KTLS_VM_9P_CACHE:-loose}
tcg_thread=${KTLS_VM_TCG_THREAD:-multi}
[[ $root_cache =~ ^(loose|none|mmap|fscache)$ ]] || { echo "run-in-guest: bad KTLS_VM_9P_CACHE '$root_cache' (loose|none|mmap|fscache)" >&2; exit 2; }
[[ $tcg_thread =~ ^(multi|single)$ ]] || { echo "run-in-guest: bad KTLS_VM_TCG_THREAD '$tcg_thread' (multi|single)" >&2; exit 2; }

# KVM guests hang on these machines: always TCG. The serial console (kernel and
# init messages) goes to our stderr without the tty's \r and without SeaBIOS's
# banner and terminal-reset escapes; the command's own stdout/stderr come
# separately, byte-exact, through files on the results share.
(
    set +e
    timeout --kill-after=10 "$secs" qemu-system-x86_64 \
        -accel "tcg,thread=$tcg_thread" -cpu max -m 2048 -smp 2 -nographic -no-reboot -nic none -vga none \
        -kernel "$vmlinuz" -initrd "$initrd" \
        -append "console=ttyS0 quiet panic=-1 ktls_9p_cache=$root_cache" \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -virtfs "local,path=$res,mount_tag=results,security_model=none,multidevs=remap" \
        </dev/null &
    echo $! >"$work/qemu-pid"
    wait $!
    echo $? >"$work/qemu-rc"
    rm -f "$work/qemu-pid"
) | sed -u -e 's/\r//g' -e 's/\x1bc//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' \
    -e '/^SeaBIOS (version/d' -e 's/^Booting from ROM\.*//' -e '/^$/d' >&2 &
vm=$!
# Stream the command's output while it runs; --pid makes tail finish (after a
# last read) once the VM is gone.
tail -n +1 -s 0.2 -f --pid="$vm" "$res/stdout" &
t_out=$!
tail -n +1 -s 0.2 -f --pid="$vm" "$res/stderr" >&2 &
t_err=$!
wait "$vm" "$t_out" "$t_err" || true

if [[ -f $res/rc ]]; then
    rc=$(cat "$res/rc")
    [[ $rc =~ ^[0-9]+$ ]] && exit "$rc"
    echo "run-in-guest: guest wrote a bad exit status: '$rc'" >&2
    exit 1
fi
qrc=$(cat "$work/qemu-rc" 2>/dev/null || echo '?')
if [[ $qrc == 124 || $qrc == 137 ]]; then
    echo "run-in-guest: timed out after ${secs}s (guest wrote no exit status)" >&2
else
    echo "run-in-guest: guest wrote no exit status (boot failure? qemu exit $qrc); see console output above" >&2
fi
exit 1
