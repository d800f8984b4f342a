#!/usr/bin/env bash
# Runs every check and test of sunfill. On a fresh Debian machine it first installs what the
# tests need (a real Mosquitto, mbpoll, Chromium, the thumbv6m target, cargo-deny); each step is
# skipped when its tool is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n== %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- what the tests need --------------------------------------------------------------------
apt_pkgs=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || apt_pkgs+=(mosquitto)
command -v mosquitto_pub >/dev/null || apt_pkgs+=(mosquitto-clients)
command -v mbpoll >/dev/null || apt_pkgs+=(mbpoll)
command -v socat >/dev/null || apt_pkgs+=(socat)
# Headless browser for the dashboard test (tests/dashboard.rs drives it over CDP).
[ -x /usr/bin/chromium ] || apt_pkgs+=(chromium)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
    step "installing Debian packages: ${apt_pkgs[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}"
fi
if ! python3 -c 'import pymodbus' 2>/dev/null; then
    step "installing pymodbus (independent Modbus peer for interop tests)"
    python3 -m pip install -q 'pymodbus>=3.6,<4'
fi
rustup target list --installed | grep -q '^thumbv6m-none-eabi$' || rustup target add thumbv6m-none-eabi
rustup component list --installed | grep -q '^clippy' || rustup component add clippy rustfmt
command -v cargo-deny >/dev/null || { step "installing cargo-deny"; cargo install --locked cargo-deny; }

# --- checks ---------------------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check

step "core builds for thumbv6m-none-eabi (no_std, no alloc)"
cargo build -p sunfill-core --target thumbv6m-none-eabi --release

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc -D warnings (doc comments link to what exists)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "cargo deny (licenses, bans, sources)"
cargo deny --log-level error check licenses bans sources
step "cargo deny (advisories)"
if out=$(cargo deny --log-level error check advisories 2>&1); then
    echo "advisories ok"
elif grep -q "failed to fetch advisory database" <<<"$out"; then
    echo "advisories NOT CHECKED: the RustSec database cannot be fetched from this machine (see deny.toml)"
else
    echo "$out"; exit 1
fi

# --- tests ----------------------------------------------------------------------------------
step "cargo test"
# Here the dashboard test must not skip for want of a browser.
export SUNFILL_REQUIRE_CHROMIUM=1
cargo test --workspace

# --- fuzzing ----------------------------------------------------------------------------------
# A short run of every cargo-fuzz target (needs nightly; the script installs it and cargo-fuzz,
# and fails loudly if it cannot). The long runs are recorded in BENCHMARKS.md ("Fuzzing").
step "fuzzing (15 s per target)"
bash scripts/fuzz.sh "${SUNFILL_FUZZ_SECS:-15}"
