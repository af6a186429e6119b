#!/usr/bin/env python3
"""Turns the raw per-repetition CSVs of measure.sh into results.csv,
results.md and chart.png (gnuplot). Usage: report.py RESULTS_DIR RAW.csv...
Exit status 1 when a configuration failed its checks (its numbers are then
left out, never shown)."""
import csv
import math
import os
import statistics
import subprocess
import sys

ORDER = ["plain", "userspace", "native-ktls", "shim-sendfile-off", "shim-sendfile-on", "shim-ab",
         "haproxy-userspace", "haproxy-shim"]
LABEL = {
    "plain": "plain HTTP (sendfile on)",
    "userspace": "userspace OpenSSL (sendfile off)",
    "native-ktls": "OpenSSL-native kTLS (Options KTLS, sendfile on)",
    "shim-sendfile-off": "shim, sendfile off",
    "shim-sendfile-on": "shim, sendfile on",
    "shim-ab": "shim A/B (--sample 0.5, every call's CPU sampled; sendfile off)",
    "haproxy-userspace": "HAProxy 2.6 TLS termination, userspace OpenSSL",
    "haproxy-shim": "HAProxy 2.6 TLS termination, shim",
}
# What a configuration's "vs userspace" ratios divide by: userspace OpenSSL in
# the same server. HAProxy relays from a backend where nginx serves the file
# itself, so nginx's userspace row is no baseline for it.
BASE = {"haproxy-userspace": "haproxy-userspace", "haproxy-shim": "haproxy-userspace"}


def cpu(r):
    """The worker's CPU seconds: exact (schedstat) where measured, else user+sys ticks."""
    return r["cpu_s"] if r.get("cpu_s") is not None else r["user_s"] + r["sys_s"]


def median_ci(xs, conf=0.95):
    """Distribution-free confidence interval for the median of sorted xs (order
    statistics, as in the sign test): (low, high, confidence reached). Below 6
    values the widest one, min-max, reaches less than conf."""
    n, best = len(xs), None
    for k in range(1, max(1, n // 2) + 1):
        cover = 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2 ** n
        if best and cover < conf:
            break
        best = (xs[k - 1], xs[n - k], cover)
    return best


# metric: (phase, function of a row)
METRICS = {
    "cpu_s_per_gb": ("big", lambda r: cpu(r) / (r["bytes"] / 1e9)),
    "throughput_mb_s": ("big", lambda r: r["bytes"] / 1e6 / r["wall_s"]),
    "handshakes_per_s": ("small", lambda r: r["requests"] / r["wall_s"]),
    "cpu_ms_per_handshake": ("small", lambda r: cpu(r) * 1000 / r["requests"]),
}


# the A/B configuration serves one phase of its own: big-file GETs, many
# connections, so that each arm ends enough of them; its whole-process
# numbers stand in the big-file columns
PHASE_OF = {("shim-ab", "big"): "ab"}
CPU_KEYS = ["conns", "conn_calls", "conn_ns", "conn_bytes", "conn_ns_sq", "conn_bytes_sq", "conn_ns_bytes"]


def load(paths):
    """Rows, #info (place -> key -> value) and #cpu (place, arm, direction) ->
    the A/B run's per-connection sums (CPU_KEYS)."""
    rows, info, cpu_sums = [], {}, {}
    for path in paths:
        with open(path) as f:
            lines = [ln for ln in f if ln.strip()]
        for ln in lines:
            if ln.startswith("#info,"):
                _, place, key, val = next(csv.reader([ln]))
                info.setdefault(place, {})[key] = val
            elif ln.startswith("#cpu,") and not ln.startswith("#cpu,place,"):
                _, place, arm, direction, *vals = ln.strip().split(",")
                keys = ("calls", "ns") if direction == "handshake" else CPU_KEYS
                cpu_sums[(place, arm, direction)] = dict(zip(keys, (int(v) for v in vals)))
        for r in csv.DictReader(ln for ln in lines if not ln.startswith("#")):
            for k in ("bytes", "requests", "wall_s", "user_s", "sys_s", "cpu_s", "syscalls", "sendfile_calls",
                      "write_calls", "tls_tx_sockets"):
                r[k] = float(r[k]) if r.get(k) not in ("", None) else None
            r["rep"] = int(r["rep"])
            r["ok"] = r["ok"] == "1"
            rows.append(r)
    return rows, info, cpu_sums


def per_byte(c):
    """An arm's CPU ns per byte as the shim's tools compute it
    (shim/tools/cpu_verdict.c): a ratio of means over ended connections, its
    variance by the delta method. (ns per byte, variance) or None."""
    n, x, y = c["conns"], c["conn_ns"], c["conn_bytes"]
    if n < 1 or y <= 0:
        return None
    r = x / y
    if n < 2:
        return r, 0.0
    mx, my = x / n, y / n
    sxx = (c["conn_ns_sq"] - n * mx * mx) / (n - 1)
    syy = (c["conn_bytes_sq"] - n * my * my) / (n - 1)
    sxy = (c["conn_ns_bytes"] - n * mx * my) / (n - 1)
    return r, max(0.0, (sxx - 2 * r * sxy + r * r * syy) / (n * my * my))


def where(place, info):
    return "guest, EMULATED" if info.get(place, {}).get("emulated", "no") != "no" else place


def emulation_factors(summary, places, info):
    """How many times the emulated guest's CPU cost exceeds the host's for the
    same work (userspace OpenSSL, the one configuration without kernel crypto
    on both): (per GB, per handshake), each None where not measured."""
    host = next((p for p in places if where(p, info) == p), None)
    guest = next((p for p in places if where(p, info) != p), None)

    def factor(m):
        a, b = summary.get((guest, "userspace")), summary.get((host, "userspace"))
        if not a or not b or not a[m] or not b[m] or not b[m][0]:
            return None
        return a[m][0] / b[m][0]
    return (factor("cpu_s_per_gb"), factor("cpu_ms_per_handshake")) if host and guest else (None, None)


def fmt(v, nd=None):
    if v is None:
        return "-"
    if nd is None:
        nd = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2 if abs(v) >= 1 else 3
    return f"{v:.{nd}f}"


def main():
    out_dir, paths = sys.argv[1], sys.argv[2:]
    rows, info, cpu_sums = load(paths)
    places = sorted(dict.fromkeys(r["place"] for r in rows), key=lambda p: p != "host")
    summary = {}  # (place, config) -> dict
    failed = []
    for place in places:
        for cfg in ORDER:
            mine = [r for r in rows if r["place"] == place and r["config"] == cfg]
            if not mine:
                continue
            s = {"place": place, "config": cfg, "where": where(place, info)}
            bad = [r for r in mine if not r["ok"]]
            check = [r for r in mine if r["phase"] == "check"]
            s["ok"] = not bad and bool(check)
            s["notes"] = "; ".join(f"{r['phase']} rep {r['rep']}: {r['note']}" for r in bad)
            if not check:
                s["notes"] = "no check pass"
            if not s["ok"]:
                failed.append(f"{place}/{cfg}: {s['notes']}")
            for name, (phase, fn) in METRICS.items():
                phase = PHASE_OF.get((cfg, phase), phase)
                vals = [fn(r) for r in mine if r["phase"] == phase and r["ok"]] if s["ok"] else []
                s[name] = (statistics.median(vals), min(vals), max(vals), len(vals)) if vals else None
            c = check[0] if check else None
            s["syscalls_per_mb"] = c["syscalls"] / (c["bytes"] / 1e6) if c and s["ok"] else None
            s["sendfile_calls"] = c["sendfile_calls"] if c else None
            s["tls"] = c["tls"] if c else ""
            s["tls_tx_sockets"] = sum(r["tls_tx_sockets"] or 0 for r in mine)
            s["connections"] = sum(r["requests"] for r in mine if r["phase"] != "check") + (2 if c else 0)
            s["reps"] = len([r for r in mine if r["phase"] == PHASE_OF.get((cfg, "big"), "big")])
            summary[(place, cfg)] = s

    haproxy = any(c in BASE for _, c in summary)

    def ratio(place, cfg, metric, base=None):
        a, b = summary.get((place, cfg)), summary.get((place, base or BASE.get(cfg, "userspace")))
        if not a or not b or not a[metric] or not b[metric] or not b[metric][0]:
            return None
        return a[metric][0] / b[metric][0]

    def paired(place, cfg, metric, base=None):
        """Ratios cfg/base repetition by repetition, sorted. The two ran back to
        back in each round, so load on the machine hits both alike and cancels
        in the ratio, where medians taken apart keep it."""
        phase, fn = METRICS[metric]
        base = base or BASE.get(cfg, "userspace")

        def by_rep(c):
            if not summary.get((place, c), {}).get("ok"):
                return {}
            ph = PHASE_OF.get((c, phase), phase)
            return {r["rep"]: fn(r) for r in rows
                    if r["place"] == place and r["config"] == c and r["phase"] == ph and r["ok"]}
        a, b = by_rep(cfg), by_rep(base)
        return sorted(a[k] / b[k] for k in a if k in b and b[k]) or None

    def paired_verdict(rs, limit, at_most):
        """Verdict on the median of paired ratios: none while its confidence
        interval holds the limit."""
        if len(rs) < 2:
            return ("NOT MEASURABLE HERE", " No verdict: one round gives no interval (raise BENCH_REPS).")
        lo, hi, cover = median_ci(rs)
        where_ = (f"the median paired ratio's {cover:.1%} confidence interval, {lo:.3f}-{hi:.3f} "
                  f"over {len(rs)} rounds,")
        if lo <= limit <= hi:
            return ("NOT MEASURABLE HERE", f" No verdict: {where_} holds the limit ({limit:g}x).")
        met = hi <= limit if at_most else lo >= limit
        return ("MET" if met else "NOT MET", f" Limit {limit:g}x; {where_} lies {'within' if met else 'beyond'} it.")

    # results.csv: one line per place x configuration
    cols = ["where", "config"]
    for m in METRICS:
        cols += [f"{m}_median", f"{m}_min", f"{m}_max"]
    # (the HAProxy rows' *_vs_userspace are against haproxy-userspace: BASE)
    cols += ["cpu_per_gb_vs_userspace", "throughput_vs_userspace", "handshakes_vs_userspace",
             "syscalls_per_mb", "sendfile_calls", "tls_tx_sockets", "connections", "tls", "reps", "ok", "notes"]
    with open(os.path.join(out_dir, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for s in summary.values():
            line = [s["where"], s["config"]]
            for m in METRICS:
                line += [fmt(x, 6) for x in s[m][:3]] if s[m] else ["", "", ""]
            line += [fmt(ratio(s["place"], s["config"], m), 4) if ratio(s["place"], s["config"], m) else ""
                     for m in ("cpu_s_per_gb", "throughput_mb_s", "handshakes_per_s")]
            line += [fmt(s["syscalls_per_mb"], 2), fmt(s["sendfile_calls"], 0), fmt(s["tls_tx_sockets"], 0),
                     fmt(s["connections"], 0), s["tls"], s["reps"], int(s["ok"]), s["notes"]]
            w.writerow(line)

    def cell(s, m):
        v = s[m]
        if not s["ok"]:
            return "FAILED"
        return f"{fmt(v[0])} [{fmt(v[1])}-{fmt(v[2])}]" if v else "-"

    def rcell(place, cfg, m):
        r = ratio(place, cfg, m)
        return f"{r:.2f}x" if r is not None else "-"

    md = ["# ktls-shim benchmark: nginx (1 worker)" + (" and HAProxy (1 thread)" if haproxy else "")
          + " -> curl on loopback", ""]
    md += ["Generated by `make bench` (demo/bench/bench.sh). Numbers are medians over the repetitions, "
           "[min-max] beside them; every ratio is against userspace OpenSSL measured in the same place "
           "and the same run"
           + (": the nginx rows against nginx's userspace row, the HAProxy rows against HAProxy's own "
              "(HAProxy 2.6 TLS termination, userspace OpenSSL)" if haproxy else "")
           + ". CPU = the nginx worker's time on CPU"
           + (" (for the HAProxy rows the HAProxy process's, one thread; the plain-HTTP nginx behind it "
              "is not counted)" if haproxy else "")
           + " from /proc/PID/schedstat (nanoseconds; "
           "user+sys in 10 ms ticks from /proc/PID/stat where a kernel has no schedstat); "
           "GB = 10^9 bytes, MB = 10^6 bytes. Syscalls per MB come from one separate, untimed "
           "`strace -c` pass per configuration that also checks the sha256 of the files served "
           "(the timed passes check status and size of every response). Handshakes: a new TCP+TLS "
           "connection per small GET, full handshakes (nginx"
           + (" and HAProxy" if haproxy else "") + " session cache and tickets off, curl "
           "--no-sessionid).", ""]
    em_gb, em_hs = emulation_factors(summary, places, info)
    slower = (f"in this run the same userspace-OpenSSL serving took {em_gb:.0f}x the host's CPU per GB and "
              f"{em_hs:.0f}x per handshake" if em_gb and em_hs else "many times slower than the host")
    if any(where(p, info) != p for p in places):
        md += [f"**EMULATED** rows ran in a QEMU TCG guest (software CPU emulation: {slower}): their absolute "
               "numbers say nothing about real speed, and only ratios between kernel-side configurations "
               "(shim vs OpenSSL-native kTLS) mean anything there. Host rows ran on a kernel without kTLS, "
               "so the shim passes through there (the passthrough-overhead rows).", ""]
    md += ["| where | configuration | server CPU s/GB | vs userspace | throughput MB/s | vs userspace "
           "| handshakes/s | vs userspace | server CPU ms/handshake | syscalls/MB | sendfile calls "
           "| kTLS TX sockets / connections | check |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary.values():
        p, c = s["place"], s["config"]
        md.append(" | ".join([
            f"| {s['where']}", LABEL[c], cell(s, "cpu_s_per_gb"), rcell(p, c, "cpu_s_per_gb"),
            cell(s, "throughput_mb_s"), rcell(p, c, "throughput_mb_s"), cell(s, "handshakes_per_s"),
            rcell(p, c, "handshakes_per_s"), cell(s, "cpu_ms_per_handshake"),
            fmt(s["syscalls_per_mb"]), fmt(s["sendfile_calls"], 0),
            f"{fmt(s['tls_tx_sockets'], 0)} / {fmt(s['connections'], 0)}",
            "ok" if s["ok"] else "FAILED: " + s["notes"]]) + " |")
    md.append("")

    # Targets
    md += ["## Targets", ""]
    ktls_places = [p for p in places if info.get(p, {}).get("ktls") == "yes"]
    plain_places = [p for p in places if info.get(p, {}).get("ktls") == "no"]

    def why_not(place, cfgs, m):
        """Why a ratio between CFGS in PLACE could not be computed."""
        for c in cfgs:
            s = summary.get((place, c))
            if not s:
                return f"{c} was not measured in {where(place, info)}"
            if not s["ok"]:
                return f"{c} failed its checks in {where(place, info)}"
            if not s[m] or not s[m][0]:
                return f"{c}: too little CPU to measure in {where(place, info)} (raise the sizes)"
        return "not computable"

    targets = []
    plain = []  # (shown?, sentence) for the summary at the top
    for p in ktls_places or [None]:
        if p is None:
            targets.append(("shim CPU per GB within 2% of OpenSSL-native kTLS with sendfile",
                            "NOT MEASURABLE HERE", "no kernel with kTLS was measured"))
            plain.append((False, "how the shim compares with OpenSSL's own kTLS, or with userspace OpenSSL: no "
                                 "kernel with kTLS was measured."))
            continue
        pr = paired(p, "shim-sendfile-on", "cpu_s_per_gb", base="native-ktls")
        em = where(p, info) != p
        if pr is None:
            targets.append(("shim CPU per GB within 2% of OpenSSL-native kTLS with sendfile",
                            "NOT MEASURABLE HERE", why_not(p, ["native-ktls", "shim-sendfile-on"], "cpu_s_per_gb")))
            plain.append((False, "whether the shim costs what OpenSSL's own kTLS costs: "
                                 + why_not(p, ["native-ktls", "shim-sendfile-on"], "cpu_s_per_gb") + "."))
        else:
            v, note = paired_verdict(pr, 1.02, True)
            same = statistics.median(pr)
            if v.startswith("MET"):
                plain.append((True, f"serving a file with sendfile, the shim costs the same CPU per GB as OpenSSL's "
                                    f"own kTLS (shim / native = {same:.3f}; the target was within 2%)"
                                    + (", measured under emulation, which slows both alike, so the comparison "
                                       "holds" if em else "") + "."))
            elif v.startswith("NOT MET"):
                plain.append((True, f"the shim costs more CPU per GB than OpenSSL's own kTLS (shim / native = "
                                    f"{same:.3f}; the target was within 2%)."))
            else:
                plain.append((False, f"whether the shim is within 2% of OpenSSL's own kTLS: the median ratio was "
                                     f"{same:.3f}, but the run-to-run spread was wider than that distance."))
            if em and v != "NOT MEASURABLE HERE":
                v += " (EMULATED)"
            targets.append((
                "shim CPU per GB within 2% of OpenSSL-native kTLS with sendfile", v,
                f"shim+sendfile / native kTLS, median of per-round ratios = {statistics.median(pr):.3f} "
                f"({where(p, info)}"
                + ("; a ratio of two kernel-side configurations, which the emulation slows alike" if em else "")
                + ")." + note))
        r6 = ratio(p, "shim-sendfile-on", "cpu_s_per_gb")
        if em:
            targets.append(("shim+sendfile CPU per GB at or below 0.6x userspace OpenSSL (native kTLS host)",
                            "NOT MEASURABLE HERE",
                            "needs a native kTLS host: here kTLS ran only in the emulated guest, where "
                            "userspace and kernel crypto are emulated differently"
                            + (f" (the EMULATED ratio, {r6:.2f}x, is not evidence either way)" if r6 else "")
                            + "."))
            plain.append((False, "whether kTLS through the shim saves CPU against userspace OpenSSL (the target: "
                                 "0.6x or less). That needs a kernel with kTLS on real hardware; the emulation "
                                 "slows kernel and userspace crypto by different amounts, so the guest's kTLS "
                                 "bars standing above userspace"
                                 + (f" ({r6:.2f}x)" if r6 else "") + " are no evidence either way."))
        else:
            p6 = paired(p, "shim-sendfile-on", "cpu_s_per_gb")
            v6, n6 = paired_verdict(p6, 0.6, True) if p6 else (
                "NOT MEASURABLE HERE", why_not(p, ["userspace", "shim-sendfile-on"], "cpu_s_per_gb"))
            targets.append(("shim+sendfile CPU per GB at or below 0.6x userspace OpenSSL (native kTLS host)", v6,
                            (f"shim+sendfile / userspace, median of per-round ratios = {statistics.median(p6):.3f}."
                             if p6 else "") + n6))
            plain.append((v6 != "NOT MEASURABLE HERE",
                          (f"kTLS through the shim with sendfile used {statistics.median(p6):.2f}x the CPU per GB of "
                           f"userspace OpenSSL ({'within' if v6 == 'MET' else 'not within' if v6 == 'NOT MET' else 'too noisy to judge against'} the 0.6x target)."
                           if p6 else "the shim against userspace OpenSSL: " + n6.strip())))
    if not plain_places:
        targets.append(("passthrough overhead under 1% CPU and 5% handshake rate",
                        "NOT MEASURABLE HERE", "this kernel has kTLS; passthrough needs one without"))
        plain.append((False, "what the shim costs where the kernel has no kTLS (passthrough): this kernel has kTLS."))

    def passthrough_targets(p, name, cfg, pair, subject, control=None):
        """The passthrough targets of CFG against its BASE in P (no kTLS):
        NAME opens the targets' names, PAIR says what was compared, SUBJECT who
        passes through, in plain words; CONTROL runs the same code as CFG here,
        so their paired ratio is the noise floor."""
        base = BASE.get(cfg, "userspace")
        pc = paired(p, cfg, "cpu_s_per_gb")
        ph = paired(p, cfg, "handshakes_per_s")
        if pc is None or ph is None:
            why = why_not(p, [base, cfg], "cpu_s_per_gb" if pc is None else "handshakes_per_s")
            targets.append((f"{name} under 1% CPU and 5% handshake rate", "NOT MEASURABLE HERE", why))
            plain.append((False, f"what {subject} costs where the kernel has no kTLS: {why}."))
            return
        aa_c = paired(p, control, "cpu_s_per_gb", base=cfg) if control else None
        aa_h = paired(p, control, "handshakes_per_s", base=cfg) if control else None

        def aa(rs):
            return (f" Control: the two shim rows run the same code here; their paired ratio is "
                    f"{statistics.median(rs):.3f} ({rs[0]:.3f}-{rs[-1]:.3f})." if rs else "")
        vc, nc = paired_verdict(pc, 1.01, True)
        vh, nh = paired_verdict(ph, 0.95, False)
        targets.append((f"{name} under 1% CPU per GB", vc,
                        f"{p} (no kTLS), {pair}, median of per-round ratios: "
                        f"CPU per GB {(statistics.median(pc) - 1) * 100:+.1f}%." + nc + aa(aa_c)))
        targets.append((f"{name} under 5% handshake rate", vh,
                        f"{p} (no kTLS), {pair}, median of per-round ratios: "
                        f"handshakes/s {(statistics.median(ph) - 1) * 100:+.1f}%." + nh + aa(aa_h)))

        def passthrough(verdict, what, limit, rs):
            change = (statistics.median(rs) - 1) * 100
            lo, hi, cover = median_ci(rs) if len(rs) > 1 else (rs[0], rs[-1], 0)
            spread = f"{cover:.0%} confidence interval of the median ratio {lo:.3f}-{hi:.3f}"
            if verdict == "NOT MEASURABLE HERE":
                return (False, f"whether {subject}, passing through where the kernel has no kTLS, changes {what} "
                               f"by less than {limit}: the median was {change:+.1f}%, but this run's spread "
                               f"({spread}) holds the limit, so it cannot tell.")
            return (True, f"where the kernel has no kTLS, {subject} (passing through) changes {what} by "
                          f"{'less' if verdict == 'MET' else 'more'} than {limit}: median {change:+.1f}% ({spread}).")
        plain.append(passthrough(vc, "CPU per GB", "1%", pc))
        plain.append(passthrough(vh, "the handshake rate", "5%", ph))

    for p in plain_places:
        # Without kTLS nginx never calls sendfile on a TLS connection, so the two
        # shim rows run the same code: the control.
        passthrough_targets(p, "passthrough overhead", "shim-sendfile-off", "shim vs no shim, both sendfile off",
                            "the shim", control="shim-sendfile-on")
        if haproxy:
            passthrough_targets(p, "HAProxy passthrough overhead", "haproxy-shim",
                                "HAProxy with the shim vs without", "the shim in HAProxy")
    for p in ktls_places if haproxy else []:
        # HAProxy reads and writes through a BIO of its own, not OpenSSL's
        # socket BIO: whether its TX reached the kernel is the first question.
        s = summary.get((p, "haproxy-shim"))
        name = "HAProxy through the shim: TLS TX in the kernel"
        if not s or not s["ok"]:
            why = f"haproxy-shim {'failed its checks' if s else 'was not measured'} in {where(p, info)}"
            targets.append((name, "NOT MEASURABLE HERE", why))
            plain.append((False, f"whether HAProxy through the shim had its TLS TX in the kernel: {why}."))
            continue
        tx, conns = s["tls_tx_sockets"], s["connections"]
        met = tx >= conns
        em = where(p, info) != p
        targets.append((name, ("MET" if met else "NOT MET") + (" (EMULATED)" if em else ""),
                        f"{fmt(tx, 0)} kernel TLS TX sockets for {fmt(conns, 0)} connections ({where(p, info)})."))
        plain.append((True, f"HAProxy through the shim had its TLS TX in the kernel on "
                            f"{'every connection' if met else 'only some connections'} ({fmt(tx, 0)} kTLS TX "
                            f"sockets for {fmt(conns, 0)} connections, {where(p, info)})."))
    # The A/B cross-check: does the shim's in-process, per-arm CPU per byte
    # (sampled calls, shim-ab) agree with what the whole process shows from
    # outside (schedstat of the all-OpenSSL and all-kTLS servers)?
    ab_detail = []
    for p in places:
        off, ctl = cpu_sums.get((p, "offload", "tx")), cpu_sums.get((p, "control", "tx"))
        if off is None or ctl is None:
            continue
        name = "A/B in-process CPU per byte agrees with the whole process (shim-ab vs userspace, shim-sendfile-off)"
        em = where(p, info) != p
        k, o = per_byte(off), per_byte(ctl)
        enough = all(c["conns"] >= 10 and c["conn_calls"] >= 30 for c in (off, ctl)) and k and o and k[0] > 0 and o[0] > 0
        counts = (f"{off['conns']} + {ctl['conns']} connections, {off['conn_calls']} + {ctl['conn_calls']} "
                  f"sampled writes")
        tool = info.get(p, {}).get("ab_verdict", "")
        if not enough:
            why = f"not enough samples in an arm ({counts}; 10 connections and 30 writes each needed)"
            targets.append((name, "NOT MEASURABLE HERE", why + "."))
            plain.append((False, "whether the shim's in-process A/B CPU numbers agree with the whole process's: "
                                 + why + "."))
            continue
        r_in = k[0] / o[0]
        se = math.sqrt(k[1] / k[0] ** 2 + o[1] / o[0] ** 2)
        r_lo, r_hi = r_in * math.exp(-1.959964 * se), r_in * math.exp(1.959964 * se)
        per_arm = (f"per-arm ratio offload/control {r_in:.2f}x (95% CI {r_lo:.2f}-{r_hi:.2f}; "
                   f"{fmt(k[0])} vs {fmt(o[0])} ns per byte sent, {counts})")
        moved = int(info.get(p, {}).get("ab_moved_tx", "0") or 0)
        if info.get(p, {}).get("ktls") != "yes" or not moved:
            why = (f"no kTLS in {where(p, info)}, so both arms ran OpenSSL: an A/A run, whose {per_arm} "
                   f"should cover 1")
            targets.append((name, "NOT MEASURABLE HERE", why + "."))
            plain.append((False, "whether the shim's in-process A/B CPU numbers agree with the whole process's: "
                                 + why + "."))
            ab_detail.append(f"- {where(p, info)}: {why}. ktls-stats on the same files: `{tool}`")
            continue
        base = summary.get((p, "userspace"))
        pr = paired(p, "shim-sendfile-off", "cpu_s_per_gb")
        if not base or not base["cpu_s_per_gb"] or not pr:
            why = why_not(p, ["userspace", "shim-sendfile-off"], "cpu_s_per_gb")
            targets.append((name, "NOT MEASURABLE HERE", why))
            plain.append((False, "whether the shim's in-process A/B CPU numbers agree with the whole process's: "
                                 + why + "."))
            continue
        w_o = base["cpu_s_per_gb"][0]  # s per GB = ns per byte

        def besides_writes(arm, c):
            """An arm's handshake (key install included) and read CPU per byte
            sent: the rest of what the shim measures of a connection."""
            rx, hs = cpu_sums.get((p, arm, "rx"), {}), cpu_sums.get((p, arm, "handshake"), {})
            return (rx.get("conn_ns", 0) + hs.get("ns", 0)) / c["conn_bytes"]
        k_all = k[0] + besides_writes("offload", off)
        o_all = o[0] + besides_writes("control", ctl)
        out_med = statistics.median(pr)
        out_lo, out_hi, cover = median_ci(pr)
        implied = 1 + (k_all - o_all) / w_o
        half = 1.959964 * math.sqrt(k[1] + o[1]) / w_o
        agree = implied - half <= out_hi and implied + half >= out_lo
        v = ("AGREES" if agree else "DISAGREES") + (" (EMULATED)" if em else "")
        detail = (f"{where(p, info)}: outside, all-kTLS / all-OpenSSL whole-process CPU per GB, median of "
                  f"per-round ratios {out_med:.3f} ({cover:.0%} CI {out_lo:.3f}-{out_hi:.3f}, {len(pr)} rounds); "
                  f"inside, {per_arm}; with each arm's handshakes and reads, {fmt(k_all)} vs {fmt(o_all)} ns "
                  f"per byte sent, which implies a whole-process ratio of {implied:.3f} "
                  f"(95% CI {implied - half:.3f}-{implied + half:.3f}): 1 + (kTLS - OpenSSL) / the "
                  f"all-OpenSSL process's {fmt(w_o)} ns per byte. The intervals "
                  f"{'overlap' if agree else 'do not overlap'}.")
        targets.append((name, v, detail))
        plain.append((True, f"the shim's in-process A/B measure {'agrees' if agree else 'DISAGREES'} with the "
                            f"whole process: it implies {implied:.3f}x the CPU per byte for an all-kTLS server, "
                            f"and the all-kTLS server measured from outside used {out_med:.3f}x"
                            + (" (EMULATED: a check of the measuring, not a speed)" if em else "") + "."))
        ab_detail.append(f"- {detail} What the shim measures of an OpenSSL connection is {o_all / w_o:.0%} of "
                         f"the all-OpenSSL process's CPU per byte; the rest (reading the file, HTTP, closing) is "
                         f"taken to be the same in both servers. ktls-stats on the same files: `{tool}`")
    md += ["| target | verdict | measured |", "|---|---|---|"]
    md += [f"| {t} | **{v}** | {d} |" for t, v, d in targets]
    md.append("")

    # what a reader needs first: in plain words, what was and was not shown
    intro = []
    native = [p for p in ktls_places if where(p, info) == p]
    if native:
        intro.append(f"kTLS ran natively ({where(native[0], info)}, kernel {info[native[0]].get('kernel')}): every "
                     "number here is a real measurement.")
    elif ktls_places:
        intro.append("This machine's kernel has no kTLS. So here the shim could only pass through (the host rows), "
                     "and kTLS itself ran in a QEMU guest that emulates the CPU in software (the EMULATED rows"
                     + (f"; in this run it took {em_gb:.0f}x the host's CPU per GB and {em_hs:.0f}x per handshake "
                        "for the same userspace-OpenSSL work" if em_gb and em_hs else "")
                     + "). The guest's absolute numbers say nothing about real speed; ratios between two "
                     "kernel-side configurations measured there do.")
    else:
        intro.append("No kernel with kTLS was measured: only what the shim costs where it passes through.")
    shown = [t for ok, t in plain if ok]
    missing = [t for ok, t in plain if not ok]
    head = ["## In short", ""] + intro + [""]
    if shown:
        head += ["Shown:"] + [f"- {t[0].upper() + t[1:]}" for t in shown] + [""]
    if missing:
        head += ["Not shown:"] + [f"- {t[0].upper() + t[1:]}" for t in missing] + [""]
    if failed:
        head += ["Some configurations FAILED their checks; their numbers are withheld (end of this file).", ""]
    md[2:2] = head

    if ab_detail:
        md += ["## The A/B cross-check", "",
               "The shim's own A/B measure (`ktls-run --sample 0.5`: per arm, the thread CPU of every sampled "
               "write over its bytes, a ratio of means over ended connections, as `ktls-stats` prints it) "
               "against the whole process measured from outside (schedstat) in the all-OpenSSL (userspace) "
               "and all-kTLS (shim, sendfile off) servers of the same rounds. The sampled writes are only part "
               "of a server's CPU, so the check compares the whole-process ratio with the one the in-process "
               "numbers imply for it: 1 + (kTLS arm - OpenSSL arm ns per byte) / all-OpenSSL ns per byte, "
               "where an arm's ns per byte are those of its writes plus its handshakes (the shim's key "
               "install included) and reads, over the bytes sent. The interval comes from the writes' spread "
               "over connections (the handshakes and reads enter as their sums). They agree when that 95% "
               "interval and the median paired ratio's interval overlap.", ""]
        md += ab_detail + [""]
    md += ["## Machine", ""]
    for p in places:
        i = info.get(p, {})
        md.append(f"- **{where(p, info)}**: kernel {i.get('kernel')}, kTLS {i.get('ktls')}, "
                  f"CPU {i.get('cpu')}, {i.get('openssl')}, {i.get('nginx')}, "
                  + (f"{i['haproxy']}, " if i.get("haproxy") else "") + f"{i.get('curl')}; "
                  f"emulated: {i.get('emulated')}; sizes: {i.get('sizes')}; load average at start "
                  f"{i.get('loadavg_start')}, at end {i.get('loadavg_end')}.")
    for k, v in info.get("run", {}).items():
        md.append(f"- {k}: {v}")
    md += ["", "Raw per-repetition data: `raw/`. Chart: `chart.png`.", ""]
    if failed:
        md += ["## FAILED configurations (numbers withheld)", ""] + [f"- {x}" for x in failed] + [""]
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write("\n".join(md))

    chart(out_dir, summary, places, info)
    if failed:
        print("report: FAILED configurations:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0


def chart(out_dir, summary, places, info):
    """chart.png from raw/chart.dat through raw/chart.gp (paths relative to
    out_dir, so the script is the same wherever it is rendered)."""
    dat = os.path.join(out_dir, "raw", "chart.dat")
    panels = []
    with open(dat, "w") as f:
        for p in places:
            for m in ("cpu_s_per_gb", "handshakes_per_s"):
                f.write(f"# {p} {m}\n")
                for cfg in ORDER:
                    s = summary.get((p, cfg))
                    if s and s[m]:
                        f.write(f'"{cfg}" {s[m][0]:.6f} {s[m][1]:.6f} {s[m][2]:.6f}\n')
                f.write("\n\n")
                panels.append((p, m))
    haproxy = any(c in BASE for _, c in summary)
    titles = {"cpu_s_per_gb": ("server CPU s per GB: the nginx worker, or HAProxy" if haproxy else
                               "nginx worker CPU s per GB") + " (lower is better)",
              "handshakes_per_s": "short connections per s, a full TLS handshake each (higher is better)"}
    reps = sorted({s["reps"] for s in summary.values() if s["ok"]})
    em_gb, em_hs = emulation_factors(summary, places, info)
    factor = {"cpu_s_per_gb": (em_gb, "per GB"), "handshakes_per_s": (em_hs, "per handshake")}
    gp = [f'set terminal pngcairo size {600 * len(places)},940 font ",9"',
          'set output "chart.png"',
          f'set multiplot layout 2,{len(places)} columnsfirst title "bars: median of '
          f'{"/".join(str(r) for r in reps)} repetitions; error bars: lowest to highest repetition" '
          'font ",10"',
          "set style data histograms", "set style histogram errorbars gap 1 lw 1",
          "set style fill solid 0.6 border -1", "set boxwidth 0.8", "set yrange [0:*]",
          "set xtics rotate by -30 nomirror", "set key off", "set grid ytics"]
    for idx, (p, m) in enumerate(panels):
        em = where(p, info) != p
        gp.append(f'set title "{where(p, info)}: {titles[m]}"')
        if em:
            # said on the panel itself: a reader of the picture alone must not take these bars for speed
            f, unit = factor[m]
            slower = f"\\n{f:.0f}x the host's CPU {unit} for the same work" if f else ""
            gp.append(f'set label 1 "EMULATED (QEMU TCG){slower}\\nnot real speed: compare bars within this '
                      'panel only" at graph 0.5, graph 0.9 center font ",10" tc rgb "#b03030" front')
            gp.append('set object 1 rect from graph 0, graph 0 to graph 1, graph 1 behind fc rgb "#fbeeee" '
                      'fs solid 1.0 noborder')
            gp.append("set offsets 0, 0, graph 0.3, 0")  # room above the bars for the label
        else:
            gp += ["unset label 1", "unset object 1", "set offsets 0, 0, 0, 0"]
        gp.append(f'plot "raw/chart.dat" index {idx} using 2:3:4:xtic(1) lc rgb "{"#b07a7a" if em else "#4a7ab0"}"')
    gp.append("unset multiplot")
    with open(os.path.join(out_dir, "raw", "chart.gp"), "w") as f:
        f.write("\n".join(gp) + "\n")
    subprocess.run(["gnuplot", "raw/chart.gp"], cwd=out_dir, check=True)


if __name__ == "__main__":
    sys.exit(main())
