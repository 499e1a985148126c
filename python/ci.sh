#!/usr/bin/env bash
# The Python SDK's checks, as .ci/run calls them after the cargo tests (which built the stalkd
# and stalk-demo-worker the tests start): the package installed into a fresh virtualenv, its
# generated stubs checked against proto/, mypy --strict, and pytest against a real broker.
set -euo pipefail
cd "$(dirname "$0")"
VENV=$(mktemp -d /tmp/stalk-python.XXXXXX)
trap 'rm -rf "$VENV"' EXIT
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q ".[dev]"
"$VENV/bin/python" scripts/gen_protos.py --check
"$VENV/bin/mypy" src/stalk
# The installed package is the one under test, not the source tree.
(cd tests && "$VENV/bin/python" -m pytest -q -p no:cacheprovider .)
