#!/usr/bin/env bash
# Format every C source with the project's .clang-format; --check only reports.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || ./scripts/deps.sh
files=$(git ls-files '*.c' '*.h')
if [ "${1:-}" = "--check" ]; then
	clang-format --dry-run --Werror $files
	echo "format: ok"
else
	clang-format -i $files
fi
