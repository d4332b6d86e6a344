#!/usr/bin/env bash
# Makes `promtool` and `prometheus` available: installs Debian's `prometheus` package when either is missing.
# Idempotent (does nothing when both are on PATH). Used by `make` and by the alert-rule and dashboard tests.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-prometheus.sh: no apt-get here; install Prometheus (promtool and prometheus) yourself" >&2
    exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# No recommends: the package would pull in node-exporter and friends, which nothing here uses.
install() { "${as_root[@]}" apt-get install -y -q --no-install-recommends prometheus >/dev/null; }
if ! install 2>/dev/null; then
    "${as_root[@]}" apt-get update -q >/dev/null
    install
fi
command -v promtool >/dev/null && command -v prometheus >/dev/null
echo "install-prometheus.sh: $(promtool --version 2>&1 | head -n 1)"
