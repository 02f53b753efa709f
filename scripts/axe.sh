#!/usr/bin/env bash
# Makes sure axe-core, from the npm registry, is in .cache/axe for the
# browser tests, which inject it into every page they check.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .cache/axe/node_modules/axe-core/axe.min.js ]; then exit 0; fi
if ! command -v npm >/dev/null 2>&1; then
  echo "axe.sh: installing npm with apt-get"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq npm >/dev/null
fi
echo "axe.sh: installing axe-core with npm"
mkdir -p .cache/axe
npm install --no-save --no-audit --no-fund --silent --prefix .cache/axe axe-core@4 >/dev/null
