#!/usr/bin/env python3
"""Turns the raw per-repetition CSVs of measure.sh into results.csv,
results.md and chart.png (gnuplot). Usage: report.py RESULTS_DIR RAW.csv...
Exit status 1 when a configuration failed its checks (its numbers are then
left out, never shown)."""
import csv
import os
import statistics
import subprocess
import sys

ORDER = ["plain", "userspace", "native-ktls", "shim-sendfile-off", "shim-sendfile-on"]
LABEL = {
    "plain": "plain HTTP (sendfile on)",
    "userspace": "userspace OpenSSL (sendfile off)",
    "native-ktls": "OpenSSL-native kTLS (Options KTLS, sendfile on)",
    "shim-sendfile-off": "shim, sendfile off",
    "shim-sendfile-on": "shim, sendfile on",
}
# metric: (phase, function of a row, unit, higher is better)
METRICS = {
    "cpu_s_per_gb": ("big", lambda r: (r["user_s"] + r["sys_s"]) / (r["bytes"] / 1e9)),
    "throughput_mb_s": ("big", lambda r: r["bytes"] / 1e6 / r["wall_s"]),
    "handshakes_per_s": ("small", lambda r: r["requests"] / r["wall_s"]),
    "cpu_ms_per_handshake": ("small", lambda r: (r["user_s"] + r["sys_s"]) * 1000 / r["requests"]),
}


def load(paths):
    rows, info = [], {}
    for path in paths:
        with open(path) as f:
            lines = [ln for ln in f if ln.strip()]
        for ln in lines:
            if ln.startswith("#info,"):
                _, place, key, val = next(csv.reader([ln]))
                info.setdefault(place, {})[key] = val
        for r in csv.DictReader(ln for ln in lines if not ln.startswith("#")):
            for k in ("bytes", "requests", "wall_s", "user_s", "sys_s", "syscalls", "sendfile_calls",
                      "write_calls", "tls_tx_sockets"):
                r[k] = float(r[k]) if r[k] not in ("", None) else None
            r["rep"] = int(r["rep"])
            r["ok"] = r["ok"] == "1"
            rows.append(r)
    return rows, info


def where(place, info):
    return "guest, EMULATED" if info.get(place, {}).get("emulated", "no") != "no" else place


def fmt(v, nd=None):
    if v is None:
        return "-"
    if nd is None:
        nd = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2 if abs(v) >= 1 else 3
    return f"{v:.{nd}f}"


def main():
    out_dir, paths = sys.argv[1], sys.argv[2:]
    rows, info = load(paths)
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
                vals = [fn(r) for r in mine if r["phase"] == phase and r["ok"]] if s["ok"] else []
                s[name] = (statistics.median(vals), min(vals), max(vals), len(vals)) if vals else None
            c = check[0] if check else None
            s["syscalls_per_mb"] = c["syscalls"] / (c["bytes"] / 1e6) if c and s["ok"] else None
            s["sendfile_calls"] = c["sendfile_calls"] if c else None
            s["tls"] = c["tls"] if c else ""
            s["tls_tx_sockets"] = sum(r["tls_tx_sockets"] or 0 for r in mine)
            s["connections"] = sum(r["requests"] for r in mine if r["phase"] != "check") + (2 if c else 0)
            s["reps"] = len([r for r in mine if r["phase"] == "big"])
            summary[(place, cfg)] = s

    def ratio(place, cfg, metric, base="userspace"):
        a, b = summary.get((place, cfg)), summary.get((place, base))
        if not a or not b or not a[metric] or not b[metric] or not b[metric][0]:
            return None
        return a[metric][0] / b[metric][0]

    # results.csv: one line per place x configuration
    cols = ["where", "config"]
    for m in METRICS:
        cols += [f"{m}_median", f"{m}_min", f"{m}_max"]
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

    md = ["# ktls-shim benchmark: nginx (1 worker) -> curl on loopback", ""]
    md += ["Generated by `make bench` (demo/bench/bench.sh). Numbers are medians over the repetitions, "
           "[min-max] beside them; every ratio is against userspace OpenSSL measured in the same place "
           "and the same run. CPU = user+sys of the nginx worker from /proc/PID/stat (10 ms ticks); "
           "GB = 10^9 bytes, MB = 10^6 bytes. Syscalls per MB come from one separate, untimed "
           "`strace -c` pass per configuration that also checks the sha256 of the files served "
           "(the timed passes check status and size of every response). Handshakes: a new TCP+TLS "
           "connection per small GET, full handshakes (nginx session cache and tickets off, curl "
           "--no-sessionid).", ""]
    if any(where(p, info) != p for p in places):
        md += ["**EMULATED** rows ran in a QEMU TCG guest (software CPU emulation; crypto is ~80x slower "
               "than on real hardware): their absolute numbers say nothing about real speed, and only "
               "ratios between kernel-side configurations (shim vs OpenSSL-native kTLS) mean anything "
               "there. Host rows ran on a kernel without kTLS, so the shim passes through there "
               "(the passthrough-overhead rows).", ""]
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

    def spread(place, cfg, m):
        s = summary.get((place, cfg))
        if not s or not s[m]:
            return None
        med, lo, hi, _ = s[m]
        return max(hi - med, med - lo) / med * 100 if med else None

    def max_spread(place, cfgs, m):
        sp = [x for x in (spread(place, c, m) for c in cfgs) if x is not None]
        return max(sp) if sp else 0.0

    def judged(ratio, limit, at_most, place, cfgs, m):
        """(verdict, note): no verdict when the ratio is nearer its limit than the
        run-to-run spread (% of the median) of the configurations compared."""
        sp = max_spread(place, cfgs, m)
        if abs(ratio - limit) / limit * 100 < sp:
            return ("NOT MEASURABLE HERE",
                    f" No verdict: the run-to-run spread here (up to ±{sp:.1f}% of the median) is larger than "
                    f"the distance to the limit ({limit:g}x), so this run cannot tell either way.")
        return ("MET" if (ratio <= limit if at_most else ratio >= limit) else "NOT MET",
                f" Run-to-run spread up to ±{sp:.1f}%.")

    def why_not(place, cfgs, m):
        """Why a ratio between CFGS in PLACE could not be computed."""
        for c in cfgs:
            s = summary.get((place, c))
            if not s:
                return f"{c} was not measured in {where(place, info)}"
            if not s["ok"]:
                return f"{c} failed its checks in {where(place, info)}"
            if not s[m] or not s[m][0]:
                return f"{c}: too little CPU for the 10 ms tick in {where(place, info)} (raise the sizes)"
        return "not computable"

    targets = []
    for p in ktls_places or [None]:
        if p is None:
            targets.append(("shim CPU per GB within 2% of OpenSSL-native kTLS with sendfile",
                            "NOT MEASURABLE HERE", "no kernel with kTLS was measured"))
            continue
        r = ratio(p, "shim-sendfile-on", "cpu_s_per_gb", base="native-ktls")
        em = where(p, info) != p
        if r is None:
            targets.append(("shim CPU per GB within 2% of OpenSSL-native kTLS with sendfile",
                            "NOT MEASURABLE HERE", why_not(p, ["native-ktls", "shim-sendfile-on"], "cpu_s_per_gb")))
        else:
            v, note = judged(r, 1.02, True, p, ["shim-sendfile-on", "native-ktls"], "cpu_s_per_gb")
            targets.append((
                "shim CPU per GB within 2% of OpenSSL-native kTLS with sendfile", v,
                f"shim+sendfile / native kTLS = {r:.3f} ({where(p, info)}"
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
        else:
            targets.append(("shim+sendfile CPU per GB at or below 0.6x userspace OpenSSL (native kTLS host)",
                            "NOT MEASURABLE HERE" if r6 is None
                            else judged(r6, 0.6, True, p, ["userspace", "shim-sendfile-on"], "cpu_s_per_gb")[0],
                            f"shim+sendfile / userspace = {r6:.3f}."
                            + judged(r6, 0.6, True, p, ["userspace", "shim-sendfile-on"], "cpu_s_per_gb")[1] if r6
                            else why_not(p, ["userspace", "shim-sendfile-on"], "cpu_s_per_gb")))
    if not plain_places:
        targets.append(("passthrough overhead under 1% CPU and 5% handshake rate",
                        "NOT MEASURABLE HERE", "this kernel has kTLS; passthrough needs one without"))
    for p in plain_places:
        rc = ratio(p, "shim-sendfile-off", "cpu_s_per_gb")
        rh = ratio(p, "shim-sendfile-off", "handshakes_per_s")
        rc2 = ratio(p, "shim-sendfile-on", "cpu_s_per_gb")
        rh2 = ratio(p, "shim-sendfile-on", "handshakes_per_s")
        if rc is None or rh is None:
            targets.append(("passthrough overhead under 1% CPU and 5% handshake rate", "NOT MEASURABLE HERE",
                            why_not(p, ["userspace", "shim-sendfile-off"],
                                    "cpu_s_per_gb" if rc is None else "handshakes_per_s")))
            continue
        vc, nc = judged(rc, 1.01, True, p, ["userspace", "shim-sendfile-off"], "cpu_s_per_gb")
        vh, nh = judged(rh, 0.95, False, p, ["userspace", "shim-sendfile-off"], "handshakes_per_s")
        targets.append(("passthrough overhead under 1% CPU per GB", vc,
                        f"{p} (no kTLS), shim vs no shim, both sendfile off: CPU per GB {(rc - 1) * 100:+.1f}%"
                        + (f" (shim with sendfile on: {(rc2 - 1) * 100:+.1f}%)" if rc2 else "") + "."
                        + nc))
        targets.append(("passthrough overhead under 5% handshake rate", vh,
                        f"{p} (no kTLS), shim vs no shim, both sendfile off: handshakes/s {(rh - 1) * 100:+.1f}%"
                        + (f" (shim with sendfile on: {(rh2 - 1) * 100:+.1f}%)" if rh2 else "") + "."
                        + nh))
    md += ["| target | verdict | measured |", "|---|---|---|"]
    md += [f"| {t} | **{v}** | {d} |" for t, v, d in targets]
    md.append("")

    md += ["## Machine", ""]
    for p in places:
        i = info.get(p, {})
        md.append(f"- **{where(p, info)}**: kernel {i.get('kernel')}, kTLS {i.get('ktls')}, "
                  f"CPU {i.get('cpu')}, {i.get('openssl')}, {i.get('nginx')}, {i.get('curl')}; "
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
    titles = {"cpu_s_per_gb": "nginx worker CPU s per GB (lower is better)",
              "handshakes_per_s": "short connections per s, a full TLS handshake each (higher is better)"}
    gp = [f'set terminal pngcairo size {600 * len(places)},900 font ",9"',
          f'set output "{os.path.join(out_dir, "chart.png")}"',
          f"set multiplot layout 2,{len(places)} columnsfirst",
          "set style data histograms", "set style histogram errorbars gap 1 lw 1",
          "set style fill solid 0.6 border -1", "set boxwidth 0.8", "set yrange [0:*]",
          "set xtics rotate by -30 nomirror", "set key off", "set grid ytics"]
    for idx, (p, m) in enumerate(panels):
        gp.append(f'set title "{where(p, info)}: {titles[m]}"')
        gp.append(f'plot "{dat}" index {idx} using 2:3:4:xtic(1) lc rgb "#4a7ab0"')
    gp.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(gp), text=True, check=True)


if __name__ == "__main__":
    sys.exit(main())
