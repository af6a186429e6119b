#!/usr/bin/env python3
"""prom_check.py FILE: checks FILE against the Prometheus text exposition
format (version 0.0.4) as node_exporter's textfile collector reads it, then
prints each sample as `name{labels} value` with labels sorted (values
escaped as the format writes them), one a line.
Exit 1 with `LINE: why` at the first rule broken.

Rules (prometheus.io/docs/instrumenting/exposition_formats, expfmt's text
parser, node_exporter's textfile collector):
- metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
  and not starting with __, a label name once per sample;
- label values in double quotes with only \\\\, \\" and \\n escaped;
- HELP text escapes only \\\\ and \\n; at most one HELP and one TYPE per
  family, both before its first sample; TYPE one of counter, gauge,
  histogram, summary, untyped;
- a family's samples are one block (no other family in between), and no
  two samples share name and labels;
- values are Go floats (NaN, +Inf, -Inf allowed); no timestamps (the
  textfile collector refuses them);
- counters: not negative, and (this project's rule, OpenMetrics') named
  *_total;
- the text ends with a newline.
"""
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
FLOAT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?Inf|NaN")


class Bad(Exception):
    pass


def parse_labels(text, pos, lineno):
    """text[pos] is just after '{'; returns (labels, position after '}')."""
    labels = {}
    while True:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == "}":
            return labels, pos + 1
        m = LABEL.match(text, pos)
        if not m:
            raise Bad(f"{lineno}: bad label name at column {pos + 1}")
        name = m.group(0)
        if name.startswith("__"):
            raise Bad(f"{lineno}: label name {name} is reserved (__)")
        if name in labels:
            raise Bad(f"{lineno}: label {name} twice")
        pos = m.end()
        if text[pos:pos + 2] != '="':
            raise Bad(f"{lineno}: label {name} without =\"value\"")
        pos += 2
        value = []
        while True:
            if pos >= len(text):
                raise Bad(f"{lineno}: label value not closed")
            c = text[pos]
            if c == "\\":
                if pos + 1 >= len(text) or text[pos + 1] not in '\\"n':
                    raise Bad(f"{lineno}: bad escape in label value")
                value.append("\n" if text[pos + 1] == "n" else text[pos + 1])
                pos += 2
                continue
            if c == '"':
                pos += 1
                break
            value.append(c)
            pos += 1
        labels[name] = "".join(value)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] != "}":
            raise Bad(f"{lineno}: expected , or }} after label {name}")


def family_of(name, types):
    for suffix in ("_bucket", "_count", "_sum"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return name


def check(text):
    if text and not text.endswith("\n"):
        raise Bad("end: no newline at the end")
    helps, types, done, seen, out = set(), {}, set(), set(), []
    current = None
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise Bad(f"{lineno}: bad metric name {name!r}")
                if name in seen_families(out):
                    raise Bad(f"{lineno}: {parts[1]} for {name} after its samples")
                if parts[1] == "HELP":
                    if name in helps:
                        raise Bad(f"{lineno}: second HELP for {name}")
                    helps.add(name)
                    rest = parts[3] if len(parts) > 3 else ""
                    if re.search(r"\\[^\\n]", rest.replace("\\\\", "")):
                        raise Bad(f"{lineno}: bad escape in HELP")
                else:
                    if name in types:
                        raise Bad(f"{lineno}: second TYPE for {name}")
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise Bad(f"{lineno}: bad TYPE line")
                    types[name] = parts[3]
            continue
        m = NAME.match(line)
        if not m:
            raise Bad(f"{lineno}: bad metric name")
        name, pos, labels = m.group(0), m.end(), {}
        if pos < len(line) and line[pos] == "{":
            labels, pos = parse_labels(line, pos + 1, lineno)
        fields = line[pos:].split()
        if len(fields) == 2:
            raise Bad(f"{lineno}: a timestamp (the textfile collector refuses them)")
        if len(fields) != 1 or not line[pos:pos + 1] in (" ", "\t"):
            raise Bad(f"{lineno}: expected one value after the name and labels")
        if not FLOAT.fullmatch(fields[0]):
            raise Bad(f"{lineno}: bad value {fields[0]!r}")
        family = family_of(name, types)
        if current != family:
            if family in done:
                raise Bad(f"{lineno}: samples of {family} are not one block")
            if current:
                done.add(current)
            current = family
        if types.get(family) == "counter":
            if not name.endswith("_total"):
                raise Bad(f"{lineno}: counter {name} not named *_total")
            if float(fields[0]) < 0:
                raise Bad(f"{lineno}: counter {name} below 0")
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise Bad(f"{lineno}: {name}{labels} twice")
        seen.add(key)
        shown = ",".join(f'{k}="{escape(v)}"' for k, v in sorted(labels.items()))
        out.append((family, f"{name}{{{shown}}} {fields[0]}" if shown else f"{name} {fields[0]}"))
    return [line for _, line in out]


def escape(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def seen_families(out):
    return {family for family, _ in out}


def main():
    if len(sys.argv) != 2:
        print("usage: prom_check.py FILE", file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        for line in check(text):
            print(line)
    except Bad as why:
        print(f"prom_check: {sys.argv[1]}:{why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
