#!/usr/bin/env python3
"""tables.py --update|--check: the knob table, the fallback reason table and
each tool's option list, written once in the docs and copied into the man
pages.

The source is the docs themselves: the knob table in shim/docs/use.md
("Knobs (environment)"), the reason table in shim/docs/troubleshooting.md
("Fallback reasons") and the "Options:" list in each tool's section of
shim/docs/use.md. They are kept there, not in a data file, because the docs
are where a reader looks for them and where a change to one is reviewed; a
data file would be a third copy to keep in step. The man pages are the copy:
each carries the roff made from one table between two comment lines

    .\\" begin NAME: made by shim/man/tables.py from DOC; edit DOC, not this
    .\\" end NAME

and everything outside those lines is the page's own. --update rewrites what
is between them; --check changes nothing and exits 1, showing the difference,
where a page is not what the docs make (tests/37-release.bats runs it).
"""
import difflib
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# name, document, its heading, kind of table, man page
TABLES = [
    ("knobs", "shim/docs/use.md", "## Knobs (environment)", "knobs", "shim/man/ktls-shim.7"),
    ("fallback reasons", "shim/docs/troubleshooting.md", "## Fallback reasons", "reasons", "shim/man/ktls-shim.7"),
    ("ktls-run options", "shim/docs/use.md", "### ktls-run", "options", "shim/man/ktls-run.1"),
    ("ktls-stats options", "shim/docs/use.md", "### ktls-stats", "options", "shim/man/ktls-stats.1"),
    ("ktls-check options", "shim/docs/use.md", "### ktls-check", "options", "shim/man/ktls-check.1"),
]


class Bad(Exception):
    pass


def section(doc, heading):
    """The lines under HEADING, to the next heading of its level or above
    (a '#' line inside a code block is not a heading)."""
    lines = open(os.path.join(ROOT, doc)).read().split("\n")
    if heading not in lines:
        raise Bad("%s has no heading '%s'" % (doc, heading))
    level = len(heading) - len(heading.lstrip("#"))
    out, fenced = [], False
    for line in lines[lines.index(heading) + 1:]:
        if line.startswith("```"):
            fenced = not fenced
        m = re.match(r"(#+) ", line)
        if m and not fenced and len(m.group(1)) <= level:
            break
        out.append(line)
    return out


def table_rows(doc, heading, columns):
    """The cells of each row of the first table in the section (a '|' inside
    a cell is written '\\|')."""
    rows, started = [], False
    for line in section(doc, heading):
        if line.startswith("|---"):
            started = True
        elif started and line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if len(cells) != columns:
                raise Bad("%s, %s: a row without %d cells: %s" % (doc, heading, columns, line))
            rows.append(cells)
        elif started:
            break
    if not rows:
        raise Bad("%s, %s: no table" % (doc, heading))
    return rows


def option_items(doc, heading):
    """(spec, text) of each item of the section's "Options:" list: an item is
    '- SPEC: TEXT', SPEC its code and italic words, continued on lines
    indented by two spaces."""
    lines = section(doc, heading)
    if "Options:" not in lines:
        raise Bad("%s, %s: no 'Options:' list" % (doc, heading))
    items = []
    for line in lines[lines.index("Options:") + 1:]:
        if line.startswith("- "):
            items.append(line[2:])
        elif line.startswith("  ") and items:
            items[-1] += " " + line.strip()
        else:
            break
    out = []
    for item in items:
        m = re.match(r"((?:`[^`]+`|\*[^*]+\*|[|, ])+): (.*)$", item)
        if not m:
            raise Bad("%s, %s: not '- `--option` *ARG*: text': %s" % (doc, heading, item))
        out.append((m.group(1), m.group(2)))
    if not out:
        raise Bad("%s, %s: an empty 'Options:' list" % (doc, heading))
    return out


def roff(text):
    """Markdown inline text -> one roff text line: `code` in bold (an option's
    dashes as \\-, so they print as ASCII minus), *word* in italics, **word**
    in bold, a link as its text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    out = []
    for i, part in enumerate(re.split(r"(`[^`]*`)", text)):
        part = part.replace("\\", "\\e")
        if i % 2:
            body = re.sub(r"(^|[\s=(\[|])(-+)", lambda m: m.group(1) + "\\-" * len(m.group(2)), part[1:-1])
            out.append("\\fB" + body + "\\fR")
        else:
            part = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", part)
            part = re.sub(r"\*([^*\s][^*]*)\*", r"\\fI\1\\fR", part)
            out.append(part)
    line = "".join(out).strip()
    # a text line starting with . or ' would be read as a request
    return "\\&" + line if line[:1] in (".", "'") else line


def sentence(line):
    """A roff line that opens an entry's text: the docs' cells and items
    start in lower case after a colon, a man page's text as a sentence."""
    return line[:1].upper() + line[1:]


def entries(doc, heading, kind):
    """The roff lines DOC's table makes."""
    out = []
    if kind == "knobs":
        for knob, values, default, meaning in table_rows(doc, heading, 4):
            name = re.fullmatch(r"`(KTLS_SHIM[A-Z_]*)`", knob)
            if not name:
                raise Bad("%s: the knob cell '%s' is not one `KTLS_SHIM...`" % (doc, knob))
            out += [".TP", ".B " + name.group(1), "Values: %s. Default: %s." % (roff(values), roff(default)),
                    ".br", sentence(roff(meaning))]
    elif kind == "reasons":
        for reason, meaning, todo in table_rows(doc, heading, 3):
            out += [".TP", roff(reason), sentence(roff(meaning))]
            if todo:
                out += [".br", "What to do: " + roff(todo)]
    else:
        for spec, text in option_items(doc, heading):
            out += [".TP", roff(spec), sentence(roff(text))]
    return out


def made_page(page, tables):
    """PAGE's text with each of TABLES' marked parts made anew."""
    lines = open(os.path.join(ROOT, page)).read().split("\n")
    for name, doc, heading, kind, _ in tables:
        begin = '.\\" begin %s: made by shim/man/tables.py from %s; edit %s, not this' % (name, doc, doc)
        end = '.\\" end %s' % name
        if lines.count(begin) != 1 or lines.count(end) != 1 or lines.index(begin) > lines.index(end):
            raise Bad("%s: no one pair of lines\n  %s\n  %s" % (page, begin, end))
        lines = lines[:lines.index(begin) + 1] + entries(doc, heading, kind) + lines[lines.index(end):]
    return "\n".join(lines)


def main(argv):
    if len(argv) != 2 or argv[1] not in ("--update", "--check"):
        print("usage: %s --update|--check" % argv[0], file=sys.stderr)
        return 2
    status = 0
    for page in sorted({t[4] for t in TABLES}):
        try:
            made = made_page(page, [t for t in TABLES if t[4] == page])
        except Bad as e:
            print("tables.py: %s" % e, file=sys.stderr)
            return 2
        path = os.path.join(ROOT, page)
        have = open(path).read()
        if have == made:
            continue
        if argv[1] == "--update":
            with open(path, "w") as f:
                f.write(made)
        else:
            sys.stdout.writelines(difflib.unified_diff(have.splitlines(True), made.splitlines(True), page, "made"))
            print("%s: its tables are not the docs' (run shim/man/tables.py --update)" % page, file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
