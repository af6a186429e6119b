#!/usr/bin/env bats
# The demo and its dependencies as a first-time user meets them: install-deps
# installs only what a target needs and never touches a service that was
# there; the demo runs a stock nginx (workers as nobody).

load helpers
bats_require_minimum_version 1.5.0

DEPS="$REPO/demo/install-deps.sh"

teardown() {
    [[ -n "${FAKE_DIR:-}" ]] && rm -rf "$FAKE_DIR"
    return 0
}

# apt-get, dpkg-query and the service managers replaced by stubs that log
# their calls; dpkg-query says installed for everything but $NOT_INSTALLED
fake_system() {
    # reachable by another user too (the not-root case)
    FAKE_DIR=$(mktemp -d /tmp/ktls-deps.XXXXXX)
    chmod 755 "$FAKE_DIR"
    local bin=$FAKE_DIR/bin
    mkdir -p "$bin"
    cat >"$bin/dpkg-query" <<'SH'
#!/bin/sh
for last; do :; done
for p in $NOT_INSTALLED; do [ "$p" = "$last" ] && exit 1; done
printf 'install ok installed'
SH
    cat >"$bin/apt-get" <<'SH'
#!/bin/sh
# while apt-get runs, services must be refused: the policy says 101
"$KTLS_DEPS_POLICY_RC_D" nginx start; echo "apt-get $* (policy: $?)" >>"$CALLS"
SH
    local s
    for s in systemctl service invoke-rc.d; do
        printf '#!/bin/sh\necho "%s $*" >>"$CALLS"\n' "$s" >"$bin/$s"
    done
    chmod +x "$bin"/*
    export PATH="$bin:$PATH" CALLS=$BATS_TEST_TMPDIR/calls KTLS_DEPS_POLICY_RC_D=$BATS_TEST_TMPDIR/policy-rc.d
    : >"$CALLS"
}

@test "install-deps: each target lists what it needs; test keeps everything CI had, plus xz-utils and zstd" {
    host_only && return 0
    local demo bench test_list old p
    demo=" $("$DEPS" --list demo) " bench=" $("$DEPS" bench --list) " test_list=" $("$DEPS" --list test) "
    echo "demo:$demo"; echo "bench:$bench"; echo "test:$test_list"
    # the default (what .ci/run calls) is the test list
    [[ " $("$DEPS" --list) " == "$test_list" ]]
    old="build-essential libssl-dev openssl bats busybox-static qemu-system-x86 nginx gnutls-bin python3
         strace cpio procps clang-14 libclang-rt-14-dev valgrind file wrk curl gnuplot-nox xz-utils zstd"
    for p in $old; do [[ "$test_list" == *" $p "* ]] || { echo "test lacks $p"; return 1; }; done
    # the demo: build, nginx, Python; no compilers for fuzzing, no benchmark tools
    for p in build-essential libssl-dev nginx python3; do [[ "$demo" == *" $p "* ]]; done
    for p in clang-14 valgrind wrk gnuplot-nox bats strace curl; do [[ "$demo" != *" $p "* ]]; done
    for p in nginx curl strace gnuplot-nox; do [[ "$bench" == *" $p "* ]]; done
    for p in clang-14 valgrind bats gnutls-bin; do [[ "$bench" != *" $p "* ]]; done
    # the QEMU guest only where this kernel has no kTLS
    if have_ktls; then
        [[ "$demo" != *" qemu-system-x86 "* && "$bench" != *" qemu-system-x86 "* ]]
    else
        [[ "$demo" == *" qemu-system-x86 "*" xz-utils zstd "* && "$bench" == *" qemu-system-x86 "* ]]
    fi
    run "$DEPS" everything
    [[ $status == 2 && "$output" == "install-deps: unknown argument 'everything' (usage: install-deps.sh [demo|test|bench] [--list])" ]]
}

@test "install-deps: CI still installs the test list, then runs make test" {
    host_only && return 0
    # .ci/run: install-deps.sh with no target (= test) or 'test', then make test
    run grep -nE '^(demo/install-deps\.sh( test)?|make test)$' "$REPO/.ci/run"
    echo "$output"
    [[ ${#lines[@]} == 2 && "${lines[0]}" == *install-deps.sh* && "${lines[1]}" == *"make test" ]]
}

@test "install-deps: installs only what is missing, never stops or starts a service" {
    host_only && return 0
    [[ $(id -u) == 0 ]] || skip "the script installs as root"
    fake_system
    # everything there: nothing runs at all
    run "$DEPS" demo
    [[ $status == 0 && -z "$output" && ! -s "$CALLS" ]]
    # nginx and python3 missing for the demo
    NOT_INSTALLED="nginx python3" run "$DEPS" demo
    echo "$output"; cat "$CALLS"
    [[ $status == 0 ]]
    [[ "$output" == *"install-deps: installing for 'demo': nginx python3"* ]]
    [[ "$output" == *"install-deps: nginx installed, its system service not started"* ]]
    grep -qx 'apt-get install -y -q --no-install-recommends nginx python3 (policy: 101)' "$CALLS"
    ! grep -qE '^(systemctl|service|invoke-rc.d) ' "$CALLS" || false
    [[ ! -e "$KTLS_DEPS_POLICY_RC_D" ]] # ours, gone again
    # a policy the machine already has is left exactly as it was
    printf '#!/bin/sh\nexit 0\n' >"$KTLS_DEPS_POLICY_RC_D"
    chmod +x "$KTLS_DEPS_POLICY_RC_D"
    : >"$CALLS"
    NOT_INSTALLED="curl" run "$DEPS" bench
    [[ $status == 0 ]]
    grep -qx 'apt-get install -y -q --no-install-recommends curl (policy: 0)' "$CALLS"
    [[ "$(cat "$KTLS_DEPS_POLICY_RC_D")" == $'#!/bin/sh\nexit 0' ]]
    # not root: says what is missing, installs nothing
    : >"$CALLS"
    NOT_INSTALLED="wrk" run setpriv --reuid=12345 --regid=12345 --clear-groups env PATH="$PATH" "$DEPS" test
    echo "$output"
    [[ $status == 1 && "$output" == "install-deps: need root to install for 'test': wrk" && ! -s "$CALLS" ]]
}

@test "demo: stock nginx (no user line; workers as nobody) serves intact files, both ends counted" {
    requires nginx
    [[ $(id -u) == 0 ]] || skip "the demo's nginx starts as root and drops to nobody"
    ! grep -q '^user ' <(sed -n '/cat >"$dir\/nginx.conf" <<CONF/,/^CONF/p' "$REPO/demo/scenario.sh") || false
    local status=0
    "$REPO/demo/scenario.sh" >"$BATS_TEST_TMPDIR/demo.txt" 2>"$BATS_TEST_TMPDIR/demo.err" || status=$?
    cat "$BATS_TEST_TMPDIR/demo.txt"
    grep -qE '^  files intact \(sha256\) +5/5 +5/5$' "$BATS_TEST_TMPDIR/demo.txt"
    # 5 nginx (worker, as nobody) + 5 client connections in the shim's stats
    grep -qE '^  shim stats: TLS connections seen +- +10$' "$BATS_TEST_TMPDIR/demo.txt"
    if have_ktls; then
        [[ $status == 0 ]]
        grep -qE '^  shim stats: TX / RX moved to the kernel +- / - +10 / 10$' "$BATS_TEST_TMPDIR/demo.txt"
        grep -q '^  | ktls-run: 5 of 5 connections offloaded$' "$BATS_TEST_TMPDIR/demo.txt"
    else
        [[ $status == 1 ]] # the demo's own verdict: nothing offloaded here
        grep -q '^  | ktls-run: 0 of 5 connections offloaded: kernel-no-tls (run ktls-check)$' "$BATS_TEST_TMPDIR/demo.txt"
    fi
}

SIDECAR="$REPO/demo/sidecar"

@test "sidecar: the manifests parse and agree with each other, the Dockerfile and the version" {
    python3 - "$SIDECAR" "$(make -s -C "$REPO" version)" <<'PY'
import os, re, sys, yaml
d, version = sys.argv[1], sys.argv[2]
kust = yaml.safe_load(open(os.path.join(d, "kustomization.yaml")))
docs = [doc for f in kust["resources"] for doc in yaml.safe_load_all(open(os.path.join(d, f)))]
by = {(x["kind"], x["metadata"]["name"]): x for x in docs}
assert set(by) == {("DaemonSet", "ktls-node-prep"), ("ConfigMap", "web-nginx"), ("Deployment", "web"),
                   ("Service", "web")}, set(by)
image = kust["images"][0]
assert image["name"] == "ktls-shim" and image["newTag"] == version, image   # a tag that exists: the version
docker = open(os.path.join(d, "Dockerfile")).read()
assert "-t ktls-shim:%s" % version in docker and "-t ktls-shim:%s" % version in open(os.path.join(d, "README.md")).read()

tmpl = by[("Deployment", "web")]["spec"]["template"]
dep = tmpl["spec"]
vols = {v["name"]: v for v in dep["volumes"]}
init, = dep["initContainers"]
app, = dep["containers"]
assert init["image"] == "ktls-shim", init
for c in (init, app):
    for m in c["volumeMounts"]:
        assert m["name"] in vols, m
mounts = {m["name"]: m["mountPath"] for m in app["volumeMounts"]}
env = {e["name"]: e["value"] for e in app["env"]}
# the library is where the initContainer copies it, under the name the image ships
init_dest = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}["ktls-lib"]
assert init["args"] == [init_dest], init
assert env["LD_PRELOAD"] == mounts["ktls-lib"] + "/libktls-shim.so", env
assert "/src/build/libktls-shim.so" in docker and 'ENTRYPOINT ["/ktls/ktls-install"]' in docker
# stats into the writable emptyDir
assert os.path.dirname(env["KTLS_SHIM_STATS"]) == mounts["ktls-stats"] and "emptyDir" in vols["ktls-stats"], env
# TLS: the server block's files are the Secret's keys, at the Secret's mount
conf = by[("ConfigMap", "web-nginx")]["data"]["tls.conf"]
assert vols["nginx-conf"]["configMap"]["name"] == "web-nginx" and mounts["nginx-conf"] == "/etc/nginx/conf.d"
gen, = kust["secretGenerator"]
assert gen["type"] == "kubernetes.io/tls" and sorted(gen["files"]) == ["tls.crt", "tls.key"], gen
assert vols["tls"]["secret"]["secretName"] == gen["name"]
for key in ("tls.crt", "tls.key"):
    assert re.search(r"ssl_certificate(_key)?\s+%s/%s;" % (re.escape(mounts["tls"]), re.escape(key)), conf), conf
# ports: nginx listens where the container, the probe and the Service say
listen = int(re.search(r"listen\s+(\d+)\s+ssl;", conf).group(1))
port, = app["ports"]
assert port["containerPort"] == listen and app["readinessProbe"]["tcpSocket"]["port"] == port["name"]
svc, = by[("Service", "web")]["spec"]["ports"]
assert svc["targetPort"] == port["name"] and by[("Service", "web")]["spec"]["selector"] == tmpl["metadata"]["labels"]
# node preparation: privileged, the host's PID namespace, the host's modprobe, then the verdict
ds = by[("DaemonSet", "ktls-node-prep")]["spec"]["template"]["spec"]
prep, = ds["initContainers"]
assert ds["hostPID"] is True and prep["securityContext"]["privileged"] is True and prep["image"] == "ktls-shim"
script = " ".join(prep["command"])
assert "nsenter --target 1 --mount -- modprobe tls" in script and "/etc/modules-load.d/tls.conf" in script
assert "/ktls/ktls-check" in script
# the verdict comes also where modprobe fails (a node without CONFIG_TLS):
# the script run with an nsenter that fails and a ktls-check that says so
import subprocess, tempfile
with tempfile.TemporaryDirectory() as t:
    for name, body in (("nsenter", "exit 1"), ("ktls-check", "echo VERDICT")):
        with open(os.path.join(t, name), "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(os.path.join(t, name), 0o755)
    cmd = prep["command"][:-1] + [prep["command"][-1].replace("/ktls/ktls-check", t + "/ktls-check")]
    out = subprocess.run(cmd, env={"PATH": t + ":/usr/bin:/bin"}, capture_output=True, text=True).stdout
    assert "modprobe tls failed" in out and out.rstrip().endswith("VERDICT"), out
PY
    # no private key ever committed next to them
    grep -qx 'tls.key' "$SIDECAR/.gitignore"
}

@test "sidecar: the ConfigMap's server block serves HTTPS with the shim preloaded (local nginx)" {
    requires nginx
    local dir=$BATS_TEST_TMPDIR/web port
    mkdir -p "$dir/conf.d" "$dir/tls" "$dir/html" "$dir/logs"
    port=$(free_port)
    self_signed ec web "$dir/tls/tls.key" "$dir/tls/tls.crt"
    echo "hello from the sidecar example" >"$dir/html/index.html"
    # the server block as written, with the container's paths and port moved here
    python3 - "$SIDECAR/ktls-shim.yaml" "$dir" "$port" >"$dir/conf.d/tls.conf" <<'PY'
import sys, yaml
cm = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d["kind"] == "ConfigMap")
conf = cm["data"]["tls.conf"]
print(conf.replace("/etc/nginx/tls", sys.argv[2] + "/tls").replace("/usr/share/nginx/html", sys.argv[2] + "/html")
          .replace("listen 443 ssl", "listen 127.0.0.1:%s ssl" % sys.argv[3]))
PY
    # the image's nginx.conf, reduced (user root: the test's files are root's
    # 0700 tree), with no server block of its own: the ConfigMap's is the one
    nginx_conf "$dir" http="access_log off; sendfile on; include $dir/conf.d/*.conf;"
    mkdir -p "$dir/stats"
    LD_PRELOAD=$SHIM KTLS_SHIM_SAMPLE=0.5 KTLS_SHIM_STATS=$dir/stats/nginx KTLS_SHIM_STATS_INTERVAL=30 \
        nginx -p "$dir" -c "$dir/nginx.conf"
    wait_port "$port"
    local body
    body=$(curl -sk "https://127.0.0.1:$port/")
    NGINX_DIR=$dir stop_nginx
    [[ "$body" == "hello from the sidecar example" ]]
    python3 - "$dir/stats" <<'PY'
import glob, json, sys
files = glob.glob(sys.argv[1] + "/nginx.*.json")
assert len(files) == 1, files
a = json.load(open(files[0]))["arms"]
assert a["offload"]["connections"] + a["control"]["connections"] == 1, a
PY
}

@test "sidecar: the Dockerfile's build steps give files that load on glibc 2.28; the entrypoint copies and reports" {
    host_only && return 0
    requires objdump readelf
    local src=$BATS_TEST_TMPDIR/src steps
    mkdir -p "$src"
    # exactly what the build stage copies and runs
    grep -q '^COPY Makefile ./$' "$SIDECAR/Dockerfile"
    grep -q '^COPY shim/ shim/$' "$SIDECAR/Dockerfile"
    cp "$REPO/Makefile" "$src/"
    cp -r "$REPO/shim" "$src/"
    steps=$(awk '/^RUN make /,/[^\\]$/' "$SIDECAR/Dockerfile" | sed 's/^RUN //; s/\\$//' | tr '\n' ' ')
    echo "$steps"
    [[ "$steps" == "make build/libktls-shim.so build/ktls-run build/ktls-check build/ktls-stats check-glibc "* ]]
    (cd "$src" && eval "$steps")
    "$src/shim/glibc/check-glibc.sh" GLIBC_2.28 "$src/build/libktls-shim.so" "$src/build/ktls-run" \
        "$src/build/ktls-check" "$src/build/ktls-stats"
    # the entrypoint, by hand: /ktls is KTLS_SRC here
    local ktls=$BATS_TEST_TMPDIR/ktls dest=$BATS_TEST_TMPDIR/dest
    mkdir -p "$ktls" "$dest"
    cp "$src/build/libktls-shim.so" "$src/build/ktls-run" "$src/build/ktls-check" "$src/build/ktls-stats" "$ktls/"
    run env KTLS_SRC="$ktls" "$SIDECAR/ktls-install.sh" "$dest"
    echo "$output"
    [[ $status == 0 ]] # with or without kTLS on this node
    [[ -x "$dest/ktls-stats" ]]
    [[ "$output" == *"ktls-install: ktls-run (ktls-shim) $(make -s -C "$REPO" version);library: $dest/libktls-shim.so, ktls-shim "* ]]
    if have_ktls; then
        [[ "$output" == *"ktls-install: kTLS works on this node"* ]]
    else
        [[ "$output" == *"ktls-install: no kTLS on this node (see above): connections will stay in OpenSSL"* ]]
    fi
    cmp "$dest/libktls-shim.so" "$ktls/libktls-shim.so"
    [[ -x "$dest/ktls-run" && -x "$dest/ktls-check" ]]
    # the library it hands over works as a preload
    run env LD_PRELOAD="$dest/libktls-shim.so" sh -c 'echo ok'
    [[ "$output" == ok ]]
    # no destination, or one it cannot write: the pod fails, with the reason
    run env KTLS_SRC="$ktls" "$SIDECAR/ktls-install.sh"
    [[ $status != 0 && "$output" == *"usage: ktls-install DEST_DIR"* ]]
    run env KTLS_SRC="$ktls" "$SIDECAR/ktls-install.sh" /nonexistent/dir
    [[ $status != 0 && "$output" == *"/nonexistent/dir"* ]]
    # a corrupt library fails the pod with the reason (it said exit 0)
    head -c 4096 /dev/urandom >"$ktls/libktls-shim.so"
    run env KTLS_SRC="$ktls" "$SIDECAR/ktls-install.sh" "$dest"
    echo "$output"
    [[ $status == 1 && "$output" == "ktls-install: the copied library is not usable: "*"$dest/libktls-shim.so: not an ELF shared library" ]]
}

@test "bench results: what was and was not shown comes first; the emulation factor is this run's; the chart says EMULATED and what its bars are" {
    host_only && return 0
    requires gnuplot
    local res=$REPO/demo/bench/results out=$BATS_TEST_TMPDIR/results
    mkdir -p "$out/raw"
    cp "$res"/raw/*.csv "$out/raw/"
    python3 "$REPO/demo/bench/report.py" "$out" "$out"/raw/*.csv
    # the committed files are what this report.py makes of the committed raw data
    diff "$res/results.md" "$out/results.md"
    diff "$res/results.csv" "$out/results.csv"
    diff "$res/raw/chart.gp" "$out/raw/chart.gp"
    [[ "$(head -c 4 "$out/chart.png" | od -An -c | tr -d ' ')" == "211PNG" ]]
    # a plain summary before any table
    [[ "$(sed -n 3p "$res/results.md")" == "## In short" ]]
    local summary
    summary=$(sed -n '3,/^Generated by/p' "$res/results.md")
    [[ "$summary" == *"Shown:"* && "$summary" == *"Not shown:"* && "$summary" != *"|"* ]]
    # the factor from the run's own numbers: guest / host userspace, per GB and per handshake
    local want
    want=$(python3 - "$res/results.csv" <<'PY'
import csv, sys
rows = {(r["where"], r["config"]): r for r in csv.DictReader(open(sys.argv[1]))}
g, h = rows[("guest, EMULATED", "userspace")], rows[("host", "userspace")]
print("%.0fx the host's CPU per GB and %.0fx per handshake" % (
    float(g["cpu_s_per_gb_median"]) / float(h["cpu_s_per_gb_median"]),
    float(g["cpu_ms_per_handshake_median"]) / float(h["cpu_ms_per_handshake_median"])))
PY
)
    echo "$want"
    [[ "$summary" == *"$want"* ]]
    local per_gb=${want%%x the host*} per_hs=${want##*and }
    per_hs=${per_hs%%x per handshake}
    # the benchmark's README quotes the committed run's factors
    grep -q "the committed run ${per_gb}x per GB and ${per_hs}x per handshake" "$REPO/demo/bench/README.md"
    ! grep -q '~80x' "$res/results.md" "$REPO/README.md" "$REPO/demo/bench/README.md" "$REPO/demo/bench/report.py" || false
    # the front page's result is a line of the committed report, word for word
    local quote
    quote=$(sed -n 's/^> //p' "$REPO/README.md")
    [[ -n $quote && $(wc -l <<<"$quote") == 1 ]]
    grep -qxF -- "- $quote" "$res/results.md" || { echo "README's quote is not a line of results.md: $quote"; return 1; }
    # on the chart itself: the emulated panels say so, and what the bars are
    [[ $(grep -c '^set label 1 "EMULATED (QEMU TCG)' "$res/raw/chart.gp") == 2 ]]
    grep -q "${per_gb}x the host's CPU per GB" "$res/raw/chart.gp"
    grep -q "${per_hs}x the host's CPU per handshake" "$res/raw/chart.gp"
    grep -q 'title "bars: median of 15 repetitions; error bars: lowest to highest repetition"' "$res/raw/chart.gp"
}
