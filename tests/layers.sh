#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The command's layer and the library's (issue 13): the slidepipe command
# (tools/) uses only the public header; the library (src/, ops/) prints
# nothing and nothing in it reaches into the batch layer (src/batch.c);
# the public header declares none of the command's own symbols. Read from
# the sources, so the check fails as soon as a change breaks one of them.
# Last, tests/layers.py reads the built objects: the layers of HACKING.md,
# no call upward, no cycle of calls or #includes, no printing object.
. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

top=$TESTS_SRCDIR/..
[ -d "$top/tools" ] && [ -d "$top/src" ] && [ -d "$top/ops" ] ||
	skip_all "no source tree next to the tests"
cd "$top" || exit 99

# code without comments: /* … */ (also over lines) and // to the end
strip_comments() {
	sed -e 's|//.*$||' "$1" |
		awk '{
			line = $0; out = "";
			while (line != "") {
				if (incomment) {
					i = index(line, "*/");
					if (i == 0) { line = ""; break }
					line = substr(line, i + 2); incomment = 0;
				} else {
					i = index(line, "/*");
					if (i == 0) { out = out line; line = ""; break }
					out = out substr(line, 1, i - 1);
					line = substr(line, i + 2); incomment = 1;
				}
			}
			print out
		}'
}

# --- the command: the public header only -------------------------------
bad=
for f in tools/*.c tools/*.h; do
	# its own headers and system ones; of slidepipe's, only the public one
	hits=$(grep -n '^[[:space:]]*#[[:space:]]*include' "$f" |
		grep -v -e '<[a-z]' -e '"cli\.h"' -e '"help\.h"' -e '"config\.h"')
	[ -n "$hits" ] && bad="$bad
$f: $hits"
	grep -q '<slidepipe/slidepipe\.h>\|"cli\.h"\|"help\.h"' "$f" ||
		bad="$bad
$f: does not include <slidepipe/slidepipe.h>"
	grep -n '[^a-zA-Z0-9]_sp_[a-z]' "$f" >/dev/null &&
		bad="$bad
$f: calls a private _sp_ function"
done
if [ -z "$bad" ]; then
	ok "tools/ includes only <slidepipe/slidepipe.h> and calls no _sp_ function"
else
	not_ok "tools/ includes only <slidepipe/slidepipe.h> and calls no _sp_ function"
	diag "$bad"
fi

# --- the library prints nothing -----------------------------------------
bad=
for f in src/*.c src/*.h ops/*.c; do
	hits=$(strip_comments "$f" | grep -nE \
		'(^|[^_a-zA-Z0-9])(stdout|stderr|STDOUT_FILENO|STDERR_FILENO|printf|vprintf|puts|putchar|perror|g_print|g_printerr)([^_a-zA-Z0-9]|$)')
	[ -n "$hits" ] && bad="$bad
$f: $hits"
done
if [ -z "$bad" ]; then
	ok "src/ and ops/ write nothing to stdout or stderr"
else
	not_ok "src/ and ops/ write nothing to stdout or stderr"
	diag "$bad"
fi

# --- nothing in the library calls into the batch layer ------------------
# its functions that are not static: a definition's name starts a line,
# its type is on the line before
batch_syms=$(strip_comments src/batch.c | awk '
	/^[a-z_][a-z0-9_]*\(/ && prev !~ /(^|[ \t])static([ \t]|$)/ {
		sub(/\(.*/, ""); print
	}
	{ prev = $0 }' | sort -u)
bad=
for f in src/*.c src/*.h ops/*.c; do
	[ "$f" = src/batch.c ] && continue
	for s in $batch_syms; do
		strip_comments "$f" | grep -q "[^a-zA-Z0-9_]$s[[:space:]]*(" &&
			bad="$bad $f:$s"
	done
done
if [ -n "$batch_syms" ] && [ -z "$bad" ]; then
	ok "no file in src/ or ops/ calls a function of src/batch.c ($(echo $batch_syms))"
else
	not_ok "no file in src/ or ops/ calls a function of src/batch.c"
	diag "batch.c's functions: $(echo $batch_syms)" "callers:$bad"
fi

# --- the public header holds none of the command's symbols -------------
bad=
for s in $(cat tools/*.c tools/*.h | sed -n 's/^\([a-z_][a-z0-9_]*\)(.*/\1/p' |
	sort -u); do
	strip_comments include/slidepipe/slidepipe.h | grep -q "[^a-zA-Z0-9_]$s[[:space:]]*(" &&
		bad="$bad $s"
done
if [ -z "$bad" ]; then
	ok "include/slidepipe/slidepipe.h declares no function of tools/"
else
	not_ok "include/slidepipe/slidepipe.h declares no function of tools/"
	diag "declared:$bad"
fi

# --- one-way layers, read off the objects the build made -----------------
# tests/layers.py: every file in its layer (HACKING.md), no call upward, no
# cycle of calls or #includes, no library object that uses the standard
# streams (the print functions, stdout, stderr)
builddir=${TESTS_BUILDDIR:+$TESTS_BUILDDIR/..}
builddir=${builddir:-$top}
if [ -x /usr/bin/python3 ] && command -v nm >/dev/null; then
	/usr/bin/python3 "$TESTS_SRCDIR/layers.py" "$top" "$builddir" >"$TMPD/layers.out" 2>&1
	rc=$?
	if [ $rc = 77 ]; then
		skip "layers, calls and includes" "$(tail -1 "$TMPD/layers.out")"
	elif [ $rc = 0 ]; then
		ok "layers: $(tail -1 "$TMPD/layers.out" | sed 's/^layers: //')"
	else
		not_ok "layers: no call upward, no cycle of calls or includes, no printing library object"
		diag_file "$TMPD/layers.out"
	fi
else
	skip "layers, calls and includes" "no /usr/bin/python3 or nm"
fi

done_testing
