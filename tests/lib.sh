# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for slidepipe's shell tests (POSIX sh, sourced).
#
# Environment (set by `make check`, guessed when a script is run by hand):
#   SLIDEPIPE     the slidepipe binary (or its libtool wrapper)
#   EXAMPLES      directory of the built examples (make-slide, …)
#   TESTS_SRCDIR  this directory (lib.sh, openslide-check.py)
#   SHARED_DIR    ../shared next to the repository (real slides), optional
#
# Output is TAP: one "ok N - name" / "not ok N - name" per assertion and
# the plan "1..N" at the end (done_testing), which TAP allows.

: "${TESTS_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}"
: "${SLIDEPIPE:=$TESTS_SRCDIR/../src/slidepipe}"
: "${EXAMPLES:=$TESTS_SRCDIR/../examples}"
: "${SHARED_DIR:=$TESTS_SRCDIR/../../shared}"
export VIPS_WARNING=0
# numbers and messages as the tests expect them
LC_ALL=C.UTF-8
export LC_ALL

T_N=0

# --- a temporary directory per script, removed on exit ----------------
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/slidepipe-test.XXXXXX") || {
	echo "Bail out! cannot make a temporary directory"
	exit 99
}
trap 'rm -rf "$TMPD"' EXIT
SP_OUT=$TMPD/sp.out     # stdout of the last sp
SP_ERR=$TMPD/sp.err     # its stderr
trap 'exit 130' INT
trap 'exit 143' TERM

# --- TAP ---------------------------------------------------------------
diag() {
	printf '%s\n' "$@" | sed 's/^/# /'
}

# diag_file FILE: a file's first lines as diagnostics
diag_file() {
	[ -s "$1" ] && sed -n '1,15p' "$1" | sed 's/^/#   /'
	return 0
}

ok() {
	T_N=$((T_N + 1))
	echo "ok $T_N - $*"
}

not_ok() {
	T_N=$((T_N + 1))
	echo "not ok $T_N - $*"
}

# relay_tap FILE: a Python check script's lines (tests/tap.py: "ok N -
# NAME", "not ok N - NAME", "# ...", "Bail out! ...") as this test's own,
# numbered here; a bail-out ends the test (exit 99)
relay_tap() {
	while IFS= read -r _line; do
		case $_line in
		"ok "*)
			_line=${_line#ok }
			case $_line in [0-9]*" - "*) _line=${_line#*" - "} ;; esac
			ok "$_line" ;;
		"not ok "*)
			_line=${_line#not ok }
			case $_line in [0-9]*" - "*) _line=${_line#*" - "} ;; esac
			not_ok "$_line" ;;
		"#"*) echo "$_line" ;;
		"Bail out!"*) echo "$_line"; exit 99 ;;
		esac
	done <"$1"
}

# skip NAME REASON
skip() {
	T_N=$((T_N + 1))
	echo "ok $T_N - $1 # SKIP $2"
}

# todo NAME REASON COMMAND…: a known bug; reported as TODO either way (an
# unexpected pass shows up as XPASS, a reminder to drop the TODO)
todo() {
	_td_name=$1 _td_reason=$2
	shift 2
	if "$@"; then
		T_N=$((T_N + 1))
		echo "ok $T_N - $_td_name # TODO $_td_reason"
	else
		T_N=$((T_N + 1))
		echo "not ok $T_N - $_td_name # TODO $_td_reason"
	fi
}

# check NAME COMMAND…: ok when COMMAND succeeds
check() {
	_ck_name=$1
	shift
	if "$@"; then
		ok "$_ck_name"
	else
		not_ok "$_ck_name"
	fi
}

# skip_all REASON: the whole script does not apply here
skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

done_testing() {
	echo "1..$T_N"
	exit 0
}

# --- comparisons (each prints why it failed) ---------------------------

# eq WHAT EXPECTED ACTUAL
eq() {
	[ "$2" = "$3" ] && return 0
	diag "$1: expected '$2', got '$3'"
	return 1
}

# num_le WHAT VALUE LIMIT: VALUE <= LIMIT, as real numbers
num_le() {
	if awk -v v="$2" -v l="$3" 'BEGIN { exit !(v != "" && v + 0 == v && v <= l + 0) }'; then
		return 0
	fi
	diag "$1: expected <= $3, got '$2'"
	return 1
}

# num_ge WHAT VALUE LIMIT: VALUE >= LIMIT, as real numbers
num_ge() {
	if awk -v v="$2" -v l="$3" 'BEGIN { exit !(v != "" && v + 0 == v && v >= l + 0) }'; then
		return 0
	fi
	diag "$1: expected >= $3, got '$2'"
	return 1
}

# num_near WHAT VALUE EXPECTED TOLERANCE: |VALUE - EXPECTED| <= TOLERANCE
num_near() {
	if awk -v v="$2" -v e="$3" -v t="$4" \
		'BEGIN { d = v - e; if (d < 0) d = -d; exit !(v != "" && v + 0 == v && d <= t) }'; then
		return 0
	fi
	diag "$1: expected $3 ± $4, got '$2'"
	return 1
}

# has FILE PATTERN…: FILE matches every extended regular expression
has() {
	_f=$1
	shift
	for _p in "$@"; do
		if ! grep -Eq -- "$_p" "$_f"; then
			diag "'$_p' not found in:"
			diag_file "$_f"
			return 1
		fi
	done
	return 0
}

# lacks FILE PATTERN: FILE does not match
lacks() {
	if grep -Eq -- "$2" "$1"; then
		diag "'$2' unexpectedly found in:"
		diag_file "$1"
		return 1
	fi
	return 0
}

# absent PATH…: nothing exists at any PATH
absent() {
	for _p in "$@"; do
		if [ -e "$_p" ]; then
			diag "'$_p' exists"
			return 1
		fi
	done
	return 0
}

# no_temp DIR: no temporary file of an atomic save is left in DIR
no_temp() {
	[ -d "$1" ] || return 0
	_left=$(find "$1" -maxdepth 1 -name '.*.sp-tmp' | sed -n 1p)
	[ -z "$_left" ] && return 0
	diag "temporary file left behind: $_left"
	return 1
}

# --- running slidepipe --------------------------------------------------

# sp ARGS…: runs slidepipe; stdout in $SP_OUT, stderr in $SP_ERR,
# exit status in $RC (never fails itself)
sp() {
	"$SLIDEPIPE" "$@" >"$SP_OUT" 2>"$SP_ERR"
	RC=$?
	return 0
}

# rc_is EXPECTED: the last sp's exit status, with its stderr on mismatch
rc_is() {
	[ "$RC" = "$1" ] && return 0
	diag "exit status: expected $1, got $RC; stderr:"
	diag_file "$SP_ERR"
	return 1
}

# --- images --------------------------------------------------------------

# make_slide W H OUT [make-slide options]
make_slide() {
	"$EXAMPLES/make-slide" "$@" >"$TMPD/make-slide.log" 2>&1 || {
		echo "Bail out! make-slide $* failed: $(cat "$TMPD/make-slide.log")"
		exit 99
	}
}

# hdr FILE…: one line per image, "W H BANDS FORMAT LOADER" (one
# vipsheader run for all: starting libvips is what costs time here)
hdr() {
	vipsheader "$@" 2>/dev/null | sed -n \
		's/^.*: \([0-9]*\)x\([0-9]*\) \([a-z0-9]*\), \([0-9]*\) bands*, [^,]*, \([a-z0-9_]*\)$/\1 \2 \4 \3 \5/p'
}

# size FILE: "W H" of an image, as libvips reads it (first page)
size() {
	hdr "$1" | cut -d' ' -f1-2
}

# same_shape WHAT A B: A and B have the same width, height and bands
# (says so on stderr when not)
same_shape() {
	_h=$(hdr "$2" "$3" | cut -d' ' -f1-3)
	_ha=$(echo "$_h" | sed -n 1p) _hb=$(echo "$_h" | sed -n 2p)
	if [ -z "$_ha" ] || [ "$_ha" != "$_hb" ]; then
		diag "$1: $2 is '$_ha', $3 is '$_hb' (W H bands)" >&2
		return 1
	fi
}

# mad A B: mean absolute difference of two images of the same size and
# bands; prints nothing (and fails) when they differ in shape. vips
# subtract of uchar images gives a signed result, so abs then avg.
mad() {
	same_shape mad "$1" "$2" || return 1
	vips subtract "$1" "$2" "$TMPD/mad-d.v" &&
		vips abs "$TMPD/mad-d.v" "$TMPD/mad-a.v" &&
		vips avg "$TMPD/mad-a.v"
	_r=$?
	rm -f "$TMPD/mad-d.v" "$TMPD/mad-a.v"
	return $_r
}

# mad_le WHAT A B LIMIT
mad_le() {
	_m=$(mad "$2" "$3")
	num_le "$1: mean absolute difference" "$_m" "$4"
}

# psnr A B: peak signal-to-noise ratio of B against A in dB (8-bit peak
# 255), over all pixels and bands; "inf" when they are identical
psnr() {
	same_shape psnr "$1" "$2" || return 1
	vips subtract "$1" "$2" "$TMPD/psnr-d.v" &&
		vips multiply "$TMPD/psnr-d.v" "$TMPD/psnr-d.v" "$TMPD/psnr-s.v" &&
		_mse=$(vips avg "$TMPD/psnr-s.v")
	_r=$?
	rm -f "$TMPD/psnr-d.v" "$TMPD/psnr-s.v"
	[ $_r = 0 ] || return $_r
	awk -v m="$_mse" 'BEGIN { if (m == 0) print "inf"; else printf "%.2f\n", 10 * log(255 * 255 / m) / log(10) }'
}

# psnr_ge WHAT A B DB: PSNR of B against A is at least DB
psnr_ge() {
	_p=$(psnr "$2" "$3")
	[ "$_p" = inf ] && return 0
	num_ge "$1: PSNR (dB)" "$_p" "$4"
}

# level_count FILE: as OpenSlide's openslide-show-properties reports it
level_count() {
	openslide-show-properties "$1" 2>/dev/null |
		sed -n "s/^openslide.level-count: '\([0-9]*\)'$/\1/p"
}

# os_levels FILE: OpenSlide's level sizes, "W×H,W×H,…", from
# openslide-show-properties
os_levels() {
	_props=$(openslide-show-properties "$1" 2>/dev/null) || return 1
	_n=$(printf '%s\n' "$_props" |
		sed -n "s/^openslide.level-count: '\([0-9]*\)'$/\1/p")
	_i=0 _list=
	while [ "$_i" -lt "${_n:-0}" ]; do
		_w=$(printf '%s\n' "$_props" |
			sed -n "s/^openslide.level\[$_i\].width: '\([0-9]*\)'$/\1/p")
		_h=$(printf '%s\n' "$_props" |
			sed -n "s/^openslide.level\[$_i\].height: '\([0-9]*\)'$/\1/p")
		_list="$_list${_list:+,}$_w×$_h"
		_i=$((_i + 1))
	done
	echo "$_list"
}

# info_levels, info_mpp, info_assoc, info_downsamples < INFO: fields of
# `slidepipe info` output read from stdin
info_levels() {
	sed -n 's/^  level [0-9]*: \([0-9]*\) × \([0-9]*\) px.*/\1×\2/p' | paste -sd, -
}
# "0.25 × 0.25" or "unknown"
info_mpp() {
	sed -n 's/^mpp: \(.*\) µm per level-0 pixel$/\1/p; s/^mpp: unknown.*/unknown/p'
}
# "name:W×H,…", sorted
info_assoc() {
	sed -n '/^associated images:/,/^properties:/s/^  \([a-z]*\): \([0-9]*\) × \([0-9]*\) px$/\1:\2×\3/p' |
		sort | paste -sd, -
}
# "1,2.0005" (5 significant digits)
info_downsamples() {
	sed -n 's/^  level [0-9]*: .* px, downsample \([0-9.]*\), .*/\1/p' |
		awk '{ printf "%s%.5g", (NR > 1 ? "," : ""), $1 } END { print "" }'
}

# sp_levels FILE: slidepipe info's level sizes, "W×H,W×H,…"
sp_levels() {
	"$SLIDEPIPE" info "$1" 2>/dev/null | info_levels
}

# sp_mpp FILE: slidepipe info's "mpp: …" value ("0.25 × 0.25" or "unknown")
sp_mpp() {
	"$SLIDEPIPE" info "$1" 2>/dev/null | info_mpp
}

# pyramid W H [TILE]: the level sizes a save writes, "W×H,…": each level
# half the previous (rounded down, as libvips' pyramid builder does),
# until a level fits in one tile
pyramid() {
	awk -v w="$1" -v h="$2" -v t="${3:-256}" 'BEGIN {
		s = w "×" h
		while (w > t || h > t) {
			w = int(w / 2); h = int(h / 2)
			if (w < 1) w = 1
			if (h < 1) h = 1
			s = s "," w "×" h
		}
		print s
	}'
}

# div_round A B: A / B to the nearest integer (halves up)
div_round() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%d\n", int(a / b + 0.5) }'
}

# The expected tissue fraction of a make-slide slide: the union of the
# three ellipses of examples/make-slide.c (centre, radii as fractions of
# width and height), integrated on a 1000 × 1000 grid. Ellipses 2 and 3
# overlap slightly, so this is a little below π·Σ rx·ry = 0.3600.
tissue_fraction() {
	awk 'BEGIN {
		n = 1000; c = 0
		for (i = 0; i < n; i++)
			for (j = 0; j < n; j++) {
				x = (i + 0.5) / n; y = (j + 0.5) / n
				if (((x - 0.30) / 0.18) ^ 2 + ((y - 0.40) / 0.25) ^ 2 <= 1 ||
					((x - 0.70) / 0.20) ^ 2 + ((y - 0.55) / 0.30) ^ 2 <= 1 ||
					((x - 0.50) / 0.12) ^ 2 + ((y - 0.85) / 0.08) ^ 2 <= 1)
					c++
			}
		printf "%.4f\n", c / (n * n)
	}'
}

# --- OpenSlide's view, through python3-openslide ---------------------------

# A python3 for JSON checks: the system's (a pyenv shim starts slowly)
PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3

# A python3 that has the openslide module (Debian's, not a pyenv one).
OS_PYTHON=
for _py in /usr/bin/python3 python3; do
	if "$_py" -c 'import openslide' >/dev/null 2>&1; then
		OS_PYTHON=$_py
		break
	fi
done

# os_check FILE [FIELD…]: tests/openslide-check.py
os_check() {
	[ -n "$OS_PYTHON" ] || return 1
	"$OS_PYTHON" "$TESTS_SRCDIR/openslide-check.py" "$@"
}
