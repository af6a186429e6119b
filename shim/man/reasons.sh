#!/usr/bin/env bash
# reasons.sh --update|--check: the FALLBACK REASONS section of ktls-shim(7)
# made from the README's "Troubleshooting by fallback reason" table, so the
# installed page says what each reason means and what to do, as the README
# does. --update rewrites the section in shim/man/ktls-shim.7; --check exits 1
# (and shows the difference) when the page is not what the table makes.
set -euo pipefail
cd "$(dirname "$0")/../.."
page=shim/man/ktls-shim.7
mode=${1:-}
[[ $mode == --update || $mode == --check ]] || { echo "usage: $0 --update|--check" >&2; exit 2; }

# markdown cell -> roff: `code` in bold, backslashes and leading dots escaped
roff_cell() {
    sed -e 's/\\/\\e/g' -e 's/^\([.'"'"']\)/\\\&\1/' -e 's/`\([^`]*\)`/\\fB\1\\fR/g' -e 's/^ *//' -e 's/ *$//'
}

section() {
    echo '.SH FALLBACK REASONS'
    echo "Each direction that stays in OpenSSL gives one reason (in the log, in the"
    echo ".B ktls-run"
    echo "summary and in the stats files):"
    sed -n '/^## Troubleshooting by fallback reason$/,/^## /p' README.md | grep '^| `' |
        while IFS='|' read -r _ reason meaning todo _; do
            echo '.TP'
            printf '%s\n' "$reason" | roff_cell
            printf '%s\n' "$meaning" | roff_cell
            if [[ -n ${todo// /} ]]; then
                echo '.br'
                printf 'What to do: %s\n' "$(printf '%s\n' "$todo" | roff_cell)"
            fi
        done
}

made=$(mktemp)
trap 'rm -f "$made"' EXIT
SECTION=$(section) awk '
    /^\.SH FALLBACK REASONS$/ { print ENVIRON["SECTION"]; skip = 1; next }
    skip && /^\.SH / { skip = 0 }
    !skip { print }' "$page" >"$made"
if [[ $mode == --update ]]; then
    cat "$made" >"$page"
elif ! diff -u "$page" "$made"; then
    echo "$page: its FALLBACK REASONS are not the README's table (run $0 --update)" >&2
    exit 1
fi
