#!/usr/bin/env bash
# The README's test command: install what is needed, build with warnings as errors
# and ASan+UBSan, run every unit and integration test with CTest, build the release
# configuration with warnings as errors, then give each libFuzzer target a short
# bounded run over its corpus.
#
#   ./scripts/test.sh            everything
#   MF_FUZZ_SECONDS=0 ./scripts/test.sh   skip the fuzzing runs
#   MF_RELEASE_BUILD=0 ./scripts/test.sh  skip the warning check of the release build
#   MF_PACKAGING=0 ./scripts/test.sh      skip the packaging tests (MF_PKG_CONTAINER=0: the image)
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh

build=${MF_BUILD_DIR:-build-test}
jobs=$(nproc)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DWERROR=ON -DSANITIZE=ON -DBUILD_TESTING=ON
cmake --build "$build" -j"$jobs"
# ASan would report leaks of processes the tests kill on purpose at exit; leaks are
# checked by the unit tests, which run to completion.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
(cd "$build" && ctest --output-on-failure --timeout 600)

# The packages: .deb and .rpm built and checked, installed and purged, the
# container image (tests/packaging/run.sh; MF_PACKAGING=0 skips it all).
if [ "${MF_PACKAGING:-1}" != 0 ]; then
	tests/packaging/run.sh "$build"
fi

# The optimiser sees more (-Wmaybe-uninitialized, -Wformat-truncation): the release
# build, the one packages and benchmarks use, must be warning-free too.
if [ "${MF_RELEASE_BUILD:-1}" != 0 ]; then
	rbuild=${build}-release
	cmake -S . -B "$rbuild" -DCMAKE_BUILD_TYPE=Release -DWERROR=ON -DBUILD_TESTING=ON >/dev/null
	cmake --build "$rbuild" -j"$jobs"
fi

fuzz_seconds=${MF_FUZZ_SECONDS:-30}
if [ "$fuzz_seconds" -gt 0 ]; then
	fbuild=${build}-fuzz
	CC=clang cmake -S . -B "$fbuild" -DCMAKE_BUILD_TYPE=Debug -DFUZZ=ON -DBUILD_TESTING=ON \
		-DWERROR=ON >/dev/null
	cmake --build "$fbuild" -j"$jobs" --target fuzz_targets
	for fuzzer in "$fbuild"/fuzz/fuzz_*; do
		[ -x "$fuzzer" ] || continue
		name=$(basename "$fuzzer" | sed 's/^fuzz_//')
		corpus=$(mktemp -d)
		cp -r tests/fuzz/corpus/"$name"/. "$corpus"/ 2>/dev/null || true
		echo "fuzz: $name for ${fuzz_seconds}s"
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			"$fuzzer" -max_total_time="$fuzz_seconds" -max_len=65536 "$corpus" 2>"$corpus.log" ||
			{ tail -n 40 "$corpus.log"; rm -rf "$corpus" "$corpus.log"; exit 1; }
		tail -n 1 "$corpus.log"
		rm -rf "$corpus" "$corpus.log"
	done
fi
echo "all tests passed"
