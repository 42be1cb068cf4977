#!/usr/bin/env bash
# Installs the Debian packages gis-patrimoine needs, only those missing (idempotent).
# Needs root (or sudo) the first time; does nothing once everything is there.
set -euo pipefail
# chromium: the map page's tests; python3-qgis: the QGIS tests and `gis-patrimoine qgis project`;
# nodejs/npm: MapLibre GL JS, installed from npm and served by the app; libreoffice-calc-nogui: the test that
# the diagnostic's questionnaire opens and saves in LibreOffice, as many town halls use it
packages=(postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting gdal-bin python3-venv chromium python3-qgis
          libreoffice-calc-nogui)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}" "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
