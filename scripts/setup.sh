#!/usr/bin/env bash
# Set up tcpcheck on a fresh Debian 12 machine (run as root, or with graphviz already there):
# Graphviz's `dot` from Debian, then a virtual environment in .venv with tcpcheck installed.
#   bash scripts/setup.sh          the tool
#   bash scripts/setup.sh --test   the tool and what the tests need (pytest, hypothesis,
#                                  selenium, Chromium for the report's browser test,
#                                  pytest-lsp for the language server's tests, Ray for the cluster tests)
# (pyproject.toml lists the Python packages: pygls for `tcpcheck lsp`, watchfiles for
# `tcpcheck watch`)
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test,cluster]"   # cluster: Ray, for tests/test_cluster.py

apt_install() {
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "setup: cannot install $* (needs root and apt-get); install it by hand" >&2
    return 1
  fi
}

if ! command -v dot >/dev/null 2>&1; then
  apt_install graphviz || echo "setup: continuing without Graphviz: diagrams are written as .dot only" >&2
fi
# gcc builds the compiled core (explore --core c; without it the Python core runs)
if ! command -v cc >/dev/null 2>&1; then
  apt_install gcc || echo "setup: continuing without gcc: the Python core explores" >&2
fi
# tcpdump captures the packets of `tcpcheck conform` (which also needs root or CAP_NET_RAW)
if ! command -v tcpdump >/dev/null 2>&1; then
  apt_install tcpdump || echo "setup: continuing without tcpdump: tcpcheck conform cannot capture" >&2
fi

# the report's browser test (tests/test_report_browser.py) opens it in headless Chromium,
# driven through Debian's own chromedriver (never one downloaded at run time)
if [ -n "$extras" ] && ! command -v chromedriver >/dev/null 2>&1; then
  apt_install chromium chromium-driver || echo "setup: continuing without Chromium: the browser test is skipped" >&2
fi

if [ ! -x .venv/bin/python ]; then
  # Debian's python3 needs the python3-venv package to create virtual environments.
  python3 -m venv .venv 2>/dev/null || { rm -rf .venv; apt_install python3-venv && python3 -m venv .venv; }
fi
.venv/bin/python -m pip install -q -e ".${extras}"
echo "setup: tcpcheck $(.venv/bin/tcpcheck --version | awk '{print $NF}') in .venv; dot: $(command -v dot || echo missing); tcpdump: $(command -v tcpdump || echo missing)"
