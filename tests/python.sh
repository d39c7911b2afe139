#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Python package (python/slidepipe) against openslide-python:
# tests/python/test_openslide.py under pytest, on the library just built
# (SLIDEPIPE_LIBRARY=src/.libs/libslidepipe.so, the package from the
# source tree: nothing installed), once through cffi and once through the
# ctypes fallback. Each pytest result becomes one TAP line; the synthetic
# slide is made by examples/make-slide, the real ones are ../shared/slides
# (skipped, saying so, when absent).

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

: "${SLIDEPIPE_LIBRARY:=$TESTS_SRCDIR/../src/.libs/libslidepipe.so}"
export SLIDEPIPE_LIBRARY
PYTHONPATH=$TESTS_SRCDIR/../python${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH SHARED_DIR EXAMPLES
# no __pycache__ in the source tree (read-only under distcheck)
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE

# an ASan build's library loads only into a program that starts with the
# sanitizer runtimes, which python3 does not
[ -z "${SP_SAN_FLAGS:-}" ] ||
	skip_all "libslidepipe is built with sanitizers ($SP_SAN_FLAGS); python3 cannot load it"
PY=${SP_PYTHON:-$PYTHON}
# configure found no python3: SP_PYTHON is ":"
[ "$PY" = : ] && PY=$PYTHON
command -v "$PY" >/dev/null 2>&1 || skip_all "python3 not found (install-deps.sh)"
for _m in numpy pytest PIL openslide; do
	"$PY" -c "import $_m" 2>/dev/null ||
		skip_all "python3 lacks module '$_m' (install-deps.sh: python3-numpy, python3-pytest, python3-pil, python3-openslide)"
done
[ -f "$SLIDEPIPE_LIBRARY" ] || skip_all "$SLIDEPIPE_LIBRARY is not built"

# run_pytest NAME: the suite with SLIDEPIPE_FFI=NAME; pytest's verbose
# lines as TAP (its skip reasons follow as diagnostics)
run_pytest() {
	_kind=$1
	SLIDEPIPE_FFI=$_kind "$PY" -m pytest -p no:cacheprovider -v -rs \
		--basetemp="$TMPD/pytest-tmp-$_kind" \
		"$TESTS_SRCDIR/python" >"$TMPD/pytest-$_kind.out" 2>&1
	_rc=$?
	sed -n -E 's/^.*::([^ ]+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)( \((.*)\))? *\[ *[0-9]+%\]$/\2 \1 \4/p' \
		"$TMPD/pytest-$_kind.out" >"$TMPD/results-$_kind"
	while read -r _status _name _why; do
		case $_status in
		PASSED | XFAIL) ok "$_kind: $_name" ;;
		SKIPPED) skip "$_kind: $_name" "${_why:-pytest skipped it: see the SKIPPED lines}" ;;
		*) not_ok "$_kind: $_name" ;;
		esac
	done <"$TMPD/results-$_kind"
	# the parity summary and the reasons of skips and failures
	sed -n '/^parity with openslide-python/p; /^SKIPPED/p; /^FAILED/p; /^ERROR/p' \
		"$TMPD/pytest-$_kind.out" | sed 's/^/# /'
	check "$_kind: pytest ran tests and exited 0" eval \
		'[ $_rc = 0 ] && [ -s "$TMPD/results-$_kind" ] || { diag "pytest exit status $_rc"; sed -n "1,200p" "$TMPD/pytest-$_kind.out" | sed "s/^/#   /"; false; }'
}

if "$PY" -c 'import cffi' 2>/dev/null; then
	run_pytest cffi
else
	skip "cffi: the suite through cffi" "python3 lacks cffi (python3-cffi); the ctypes fallback runs below"
fi
run_pytest ctypes

done_testing
