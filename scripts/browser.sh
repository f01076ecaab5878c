#!/usr/bin/env bash
# Installs headless Chromium (Debian's `chromium` package) for the status-page browser test
# (tests/status_page.rs), only when /usr/bin/chromium is missing. Needs root (CI and the
# development machines run as root) and Debian's package archive.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium > /dev/null
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo installed)"
