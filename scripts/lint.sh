#!/usr/bin/env bash
# lint.sh: what the compiler and clang-format do not check.
#   - banned functions: sprintf strcpy strcat gets atoi (use snprintf,
#     xstrdup/buf, strtol via parse_long)
#   - raw malloc/calloc/realloc outside src/core/common.c (use x-versions)
#   - every .c/.h starts with a comment saying what the file is
#   - clang-format clean (when clang-format is installed)
#   - no absolute paths of a developer machine
#   - no SQL outside src/store/: src/server/ and src/cli/ call the named
#     functions of store-rows.h, never store_exec/store_rows/... directly
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
files=$(git ls-files 'src/*.c' 'src/*.h' 'tools/*.c' 'tests/unit/*.c' 'tests/fuzz/*.c')

bad() { echo "lint: $*"; status=1; }

for f in $files; do
	if grep -nE '\b(sprintf|vsprintf|strcpy|strcat|gets|atoi|atol)\s*\(' "$f" |
		grep -vE '^\s*[0-9]+:\s*(/?\*|//)' | grep -v snprintf >/dev/null; then
		grep -nE '\b(sprintf|vsprintf|strcpy|strcat|gets|atoi|atol)\s*\(' "$f" |
			grep -v snprintf | sed "s|^|lint: $f:banned function: |"
		status=1
	fi
	case "$f" in
	src/core/common.c | tools/*) ;;
	*)
		if grep -nE '(^|[^x_a-z])(malloc|calloc|realloc|strdup|strndup)\s*\(' "$f" >/dev/null; then
			grep -nE '(^|[^x_a-z])(malloc|calloc|realloc|strdup|strndup)\s*\(' "$f" |
				sed "s|^|lint: $f: raw allocator (use xmalloc family): |"
			status=1
		fi
		;;
	esac
	head -n 1 "$f" | grep -q '^/\*' || bad "$f: missing the file header comment"
done

if command -v clang-format >/dev/null; then
	for f in $files; do
		clang-format --dry-run --Werror "$f" >/dev/null 2>&1 ||
			bad "$f: not clang-format clean (run clang-format -i $f)"
	done
fi

raw_sql='\bstore_(exec|rows|row|begin|commit|rollback|changes)\s*\('
if git grep -nE "$raw_sql" -- 'src/server/' 'src/cli/' >/dev/null; then
	git grep -nE "$raw_sql" -- 'src/server/' 'src/cli/' |
		sed 's|^|lint: SQL outside src/store/ (add a function to store-rows.h): |'
	status=1
fi

if git grep -nE '/(work|home)/[a-z]+/' -- ':!scripts/lint.sh' | grep -v '/home/agent/' >/dev/null; then
	git grep -nE '/(work|home)/[a-z]+/' -- ':!scripts/lint.sh' | grep -v '/home/agent/' | sed 's|^|lint: absolute path: |'
	status=1
fi
[ $status -eq 0 ] && echo "lint: ok"
exit $status
