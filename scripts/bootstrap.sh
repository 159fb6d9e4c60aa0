#!/bin/sh
# One command on a fresh Debian machine: install what is missing, then run a make target.
#   sh scripts/bootstrap.sh run     build and run a node on the default data directory
#   sh scripts/bootstrap.sh test    build and run every test
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
exec make --no-print-directory "${@:-all}"
