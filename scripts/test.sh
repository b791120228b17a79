#!/usr/bin/env bash
# Runs every Tern test: formatting, lints, unit/property/end-to-end/interop tests, doc tests, and a build
# of the fuzz targets. Installs what the tests need when missing (scripts/install-test-deps.sh).
# Long soaks and fuzzing runs are behind TERN_LONG=1.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  echo "== conformance table (CONFORMANCE.md)"
  python3 scripts/conformance.py
  cargo test --workspace --doc
else
  cargo test --workspace --no-fail-fast
fi
if [ -d fuzz ] && rustup toolchain list 2>/dev/null | grep -q nightly; then
  echo "== fuzz targets (build)"
  (cd fuzz && cargo +nightly fuzz build -O)
  if [ "${TERN_LONG:-0}" = 1 ]; then
    for t in $(cd fuzz && cargo +nightly fuzz list); do
      (cd fuzz && cargo +nightly fuzz run "$t" -- -max_total_time=600)
    done
  fi
fi
