#!/usr/bin/env bash
# README's test command: make sure LibreOffice is there, then run pytest.
#
# The workbook tests recalculate every workbook with LibreOffice headless and never skip,
# so a fresh machine needs it before pytest can pass. This script
#   1. looks for LibreOffice the way tests/support/libreoffice.py does: $SOFFICE, then
#      `soffice` or `libreoffice` on PATH, then the usual install places;
#   2. if it is missing, installs `libreoffice-calc-nogui` with apt-get (`apt-get update`
#      first; through sudo when not root) -- on a machine without apt-get, or where the
#      install fails, it stops with a message saying what to install (exit 3);
#   3. runs pytest with the arguments given to this script, and exits with pytest's code
#      (pytest's "no tests ran", exit 5, is reported as such and stays a failure).
#
# Environment (for tests of this script and unusual machines):
#   SOFFICE                         path or name of the LibreOffice executable
#   STRESSMODEL_SOFFICE_CANDIDATES  space-separated install places to look in (default:
#                                   the same places as tests/support/libreoffice.py)
#   STRESSMODEL_PYTEST              the test command (default: python -m pytest)
set -uo pipefail

PACKAGE="libreoffice-calc-nogui"
CANDIDATES="${STRESSMODEL_SOFFICE_CANDIDATES-/usr/lib/libreoffice/program/soffice /opt/libreoffice/program/soffice /Applications/LibreOffice.app/Contents/MacOS/soffice}"

say() { printf 'tools/test.sh: %s\n' "$*" >&2; }

find_soffice() {
    if [ -n "${SOFFICE:-}" ] && command -v "$SOFFICE" >/dev/null 2>&1; then
        command -v "$SOFFICE"
        return 0
    fi
    local name
    for name in soffice libreoffice; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    for name in $CANDIDATES; do
        if [ -x "$name" ]; then
            printf '%s\n' "$name"
            return 0
        fi
    done
    return 1
}

cannot_install() {
    say "error: LibreOffice (soffice) is needed by the workbook tests (they never skip) and $1."
    say "Install it, then rerun this command:"
    say "  Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y $PACKAGE"
    say "  Fedora: sudo dnf install libreoffice-calc;  macOS: brew install --cask libreoffice"
    say "  or point SOFFICE at an existing soffice executable."
    exit 3
}

install_libreoffice() {
    command -v apt-get >/dev/null 2>&1 || cannot_install "this machine has no apt-get to install it with"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || cannot_install "installing it needs root, and sudo is not available"
        sudo=(sudo)
    fi
    say "LibreOffice not found; installing $PACKAGE with ${sudo[*]:+${sudo[*]} }apt-get"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update ||
        cannot_install "'${sudo[*]:+${sudo[*]} }apt-get update' failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$PACKAGE" ||
        cannot_install "'${sudo[*]:+${sudo[*]} }apt-get install -y $PACKAGE' failed"
    hash -r
    find_soffice >/dev/null || cannot_install "it is still not found after installing $PACKAGE"
}

if soffice="$(find_soffice)"; then
    say "LibreOffice: $soffice"
else
    install_libreoffice
    say "LibreOffice: $(find_soffice)"
fi

# shellcheck disable=SC2206  # the command may carry arguments, split on spaces
pytest_cmd=(${STRESSMODEL_PYTEST:-python -m pytest})
"${pytest_cmd[@]}" "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    say "error: pytest collected no tests (exit 5); that is a failure, not a pass"
fi
exit "$rc"
