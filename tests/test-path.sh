# Sourced from the repository root by the runners (run-bats.sh,
# matrix/run.sh): the suite's python3 is the distribution's (install-deps
# installs it), not a version manager's shim that comes earlier in PATH.
# pyenv's runs bash and several helpers per start: 0.6 s here and 4.5 s in
# the guest, against 0.4 s; and the services the shim meets run the
# distribution's CPython anyway. The guests get the distribution's PATH
# (run-in-guest.sh). The link is made once, never remade under a running guest (it caches the host's root).
if [[ -x /usr/bin/python3 && $(command -v python3) != /usr/bin/python3 ]]; then
    if [[ $(readlink build/test-path/python3 2>/dev/null) != /usr/bin/python3 ]]; then
        mkdir -p build/test-path
        ln -sfn /usr/bin/python3 build/test-path/python3
    fi
    PATH=$PWD/build/test-path:$PATH
    export PATH
fi
