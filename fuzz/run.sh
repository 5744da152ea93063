#!/usr/bin/env bash
# Runs each fuzz target for a bounded time: `fuzz/run.sh SECONDS TARGET...` (see `make fuzz`).
# cargo-fuzz drives libFuzzer through rustc's sanitizer-coverage instrumentation, which the stable
# toolchain has. We build without a sanitizer (`-s none`, which needs no nightly): lookout has no
# unsafe code of its own, and panics, aborts, timeouts and memory beyond libFuzzer's limit are what
# we look for.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift
targets=("$@")
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cargo fuzz build -s none -O
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    # Seeds stay as committed: new inputs go to a scratch copy of the corpus.
    work=$(mktemp -d)
    cp -r "corpus/$t/." "$work/"
    echo "fuzz: $t for ${seconds}s"
    if ! cargo fuzz run -s none -O "$t" "$work" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 2>&1 | tail -n 12; then
        failed+=("$t")
    fi
    rm -rf "$work"
done
if ((${#failed[@]})); then
    echo "fuzz: findings in ${failed[*]} (see fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no finding"
