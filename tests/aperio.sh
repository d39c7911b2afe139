#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Aperio ImageDescriptions as hostile input (issue 12): the parser in
# src/svs.c (_sp_aperio_keys) and the load-time bound in src/slide.c.
# Each case is make-aperio's synthetic SVS (tests/svs-check.py) with level
# 0's description replaced by tiffset -sf.
#  - empty and junk '|' fields ("||| MPP = |AppMag=|=|") crashed save
#    format=svs (SIGSEGV): now saved, junk left out, one line of stderr
#  - AppMag = 4294967296 was written as -2147483648: out-of-range powers
#    are unknown (no AppMag written, none reported)
#  - 40,000 keys took 74 s (libvips copies OpenSlide's properties with
#    quadratic cost): refused with a one-line error naming the file
#  - a key given twice is written once

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

[ -n "$OS_PYTHON" ] || skip_all "no python3 with the openslide module (python3-openslide)"
"$OS_PYTHON" -c 'import tifffile, numpy' 2>/dev/null ||
	skip_all "python3-tifffile or python3-numpy not installed"
command -v tiffset >/dev/null || skip_all "tiffset (libtiff-tools) not installed"

SYN=$TMPD/synthetic.svs
"$OS_PYTHON" "$TESTS_SRCDIR/svs-check.py" make-aperio "$SYN" || {
	echo "Bail out! cannot write a synthetic SVS with tifffile"
	exit 99
}

# with_description NAME TEXT: a copy of the synthetic SVS whose level-0
# description is TEXT (printf escapes allowed)
with_description() {
	cp "$SYN" "$TMPD/$1"
	printf "$2" >"$TMPD/$1.desc"
	tiffset -sf 270 "$TMPD/$1.desc" "$TMPD/$1" >/dev/null 2>&1
}

# description FILE: level 0's ImageDescription of an output, one line
description() {
	"$OS_PYTHON" -c 'import openslide, sys
print(openslide.OpenSlide(sys.argv[1]).properties.get("tiff.ImageDescription", "").replace("\r", " ").replace("\n", " "))' "$1" 2>/dev/null
}

prop() {
	"$OS_PYTHON" -c 'import openslide, sys
print(openslide.OpenSlide(sys.argv[1]).properties.get(sys.argv[2], ""))' \
		"$1" "$2" 2>/dev/null
}

# ------------------------------------------------------------ empty fields
# OpenSlide 3.4.1 itself logs GLib criticals on empty fields (g_strstrip
# of NULL), which it survives: these cases run without
# G_DEBUG=fatal-criticals, as tests/fuzz-regressions.sh runs thirdparty-*
sp_os() {
	env -u G_DEBUG "$SLIDEPIPE" "$@" >"$SP_OUT" 2>"$SP_ERR"
	RC=$?
}
with_description empty.svs 'Aperio Image Library v1\r\n1000x1000 ||| MPP = |AppMag=|=|Good = 1| no equals |'
sp_os load "$TMPD/empty.svs" ! save "$TMPD/empty-out.svs"
check "empty '|' fields: save format=svs exits 0 (was SIGSEGV)" rc_is 0
D=$(description "$TMPD/empty-out.svs")
check "empty fields: the output keeps 'Good = 1' and drops the junk" \
	eval 'echo "$D" | grep -q "Aperio Image Library v1  1000x1000 |Good = 1$"'
check "empty fields: OpenSlide reads the output as aperio" \
	eq vendor aperio "$(prop "$TMPD/empty-out.svs" openslide.vendor)"
check "empty fields: stderr is empty (no GLib criticals)" \
	eval '[ ! -s "$SP_ERR" ] || { diag_file "$SP_ERR"; false; }'
sp_os info "$TMPD/empty.svs"
check "empty fields: info exits 0" rc_is 0
check "empty fields: info writes nothing to stderr (OpenSlide's GLib criticals are not ours to print)" \
	eval '[ ! -s "$SP_ERR" ] || { diag_file "$SP_ERR"; false; }'
sp_os --verbose info "$TMPD/empty.svs"
check "empty fields: --verbose shows OpenSlide's criticals" \
	eval 'rc_is 0 && has "$SP_ERR" "GLib-CRITICAL"'

# ------------------------------------------------------- numbers in range
with_description huge-mag.svs 'Aperio Image Library v1\r\n1000x1000 |AppMag = 4294967296|MPP = 0.25'
sp load "$TMPD/huge-mag.svs" ! downsample 2 ! save "$TMPD/huge-mag-out.svs"
check "AppMag = 4294967296: saved" rc_is 0
D=$(description "$TMPD/huge-mag-out.svs")
check "AppMag = 4294967296: no AppMag written (was -2147483648), MPP 0.5 kept" \
	eval 'echo "$D" | grep -q "1000x1000 |MPP = 0.5$"'
check "AppMag = 4294967296: no objective power in the output" \
	eq objective-power "" "$(prop "$TMPD/huge-mag-out.svs" openslide.objective-power)"
sp load "$TMPD/huge-mag.svs" ! save "$TMPD/huge-mag.tif"
check "AppMag = 4294967296: format=generic says no objective power" \
	eval 'rc_is 0 && ! tiffinfo "$TMPD/huge-mag.tif" 2>/dev/null | grep -aq "objective-power"'

with_description nan-mag.svs 'Aperio Image Library v1\r\n1000x1000 |AppMag = nan|MPP = 0.25'
sp load "$TMPD/nan-mag.svs" ! save "$TMPD/nan-mag-out.svs"
check "AppMag = nan: saved without an AppMag" \
	eval 'rc_is 0 && description "$TMPD/nan-mag-out.svs" | grep -q "1000x1000 |MPP = 0.25$"'

# ------------------------------------------------------------ duplicates
with_description dup.svs 'Aperio Image Library v1\r\n1000x1000 |A = 1|A = 2|AppMag = 20|AppMag = 40|B = x\x01y'
sp load "$TMPD/dup.svs" ! save "$TMPD/dup-out.svs"
D=$(description "$TMPD/dup-out.svs")
check "a key given twice is written once; control characters as spaces" \
	eval 'rc_is 0 && echo "$D" | grep -q "1000x1000 |A = 1|AppMag = 40|B = x y$"'

# ------------------------------------------------------------- many keys
"$OS_PYTHON" -c 'import sys
sys.stdout.write("Aperio Image Library v1\r\n1000x1000 |MPP = 0.25|" + "|".join("K%d = %d" % (i, i) for i in range(40000)))' >"$TMPD/many.desc"
cp "$SYN" "$TMPD/many.svs"
tiffset -sf 270 "$TMPD/many.desc" "$TMPD/many.svs" >/dev/null 2>&1
sp info "$TMPD/many.svs"
check "40,000 keys: refused, exit 1" rc_is 1
check "40,000 keys: one line naming load, the file and the bound" \
	eval '[ "$(wc -l <"$SP_ERR")" -eq 1 ] && has "$SP_ERR" "^slidepipe: load: .*many\.svs.: its Aperio ImageDescription has 40001 fields .* at most 1024 fields"'
sp load "$TMPD/many.svs" ! save "$TMPD/many-out.svs"
check "40,000 keys: save refused, no output" \
	eval 'rc_is 1 && absent "$TMPD/many-out.svs" && no_temp "$TMPD"'

# ------------------------------------------- metadata printed and in JSON
# control characters and bytes that are not UTF-8 in a description:
# escaped in info's text (no terminal escape reaches the terminal, one
# line per property), valid JSON in info --json
with_description ctl.svs 'Aperio Image Library v1\r\n1000x1000 |Title = \033[31mred\033[0m caf\303\251\033]0;owned\007|MPP = 0.25'
sp_os info "$TMPD/ctl.svs"
check "control characters in metadata: info exits 0" rc_is 0
check "control characters in metadata: ESC and BEL escaped as \\x1b, \\x07 (UTF-8 kept)" \
	has "$SP_OUT" '^  aperio\.Title = \\x1b\[31mred\\x1b\[0m café\\x1b\]0;owned\\x07$'
check "control characters in metadata: no raw ESC or CR in info's output" \
	eval '! LC_ALL=C grep -q "$(printf "[\033\r]")" "$SP_OUT"'
sp_os info --json "$TMPD/ctl.svs"
check "control characters in metadata: info --json is valid JSON" \
	eval 'rc_is 0 && "$PYTHON" -m json.tool "$SP_OUT" >/dev/null'
check "info --json: the text is recoverable (ESC as \\u001b)" \
	eq title "$(printf '\033[31mred\033[0m caf\303\251\033]0;owned\007')" "$("$PYTHON" -c '
import json, sys
print(json.load(open(sys.argv[1]))["properties"]["aperio.Title"])' "$SP_OUT")"

# ------------------------------ a grey SVS narrower than a tile, read back
# OpenSlide 3.4.1 decodes a level that is not 3-sample JPEG through
# libtiff's RGBA interface, which turns the rows of a tile past the image's
# width white: slidepipe's own 65 × 491 mask saved as svs read back as
# stripes (round-trip soak, seed 1903721203 case 34). slidepipe now reads
# such a level with its own reader; libvips' tiffload is the reference.
make_slide 320 640 "$TMPD/narrow-src.tif"
sp load "$TMPD/narrow-src.tif" ! crop 0 0 65 491 ! threshold ! save "$TMPD/narrow.svs"
check "grey svs narrower than a tile: written" rc_is 0
for lv in 0 1; do
	page=$lv
	[ "$lv" = 1 ] && page=2   # Aperio: level 0, thumbnail, level 1
	sp load "$TMPD/narrow.svs" level=$lv ! save "$TMPD/narrow-back$lv.png"
	check "grey svs narrower than a tile: level $lv read" rc_is 0
	vips tiffload "$TMPD/narrow.svs" "$TMPD/narrow-ref$lv.v" --page $page &&
		vips extract_band "$TMPD/narrow-back$lv.png" "$TMPD/narrow-got$lv.v" 0
	check "grey svs narrower than a tile: level $lv as libvips' tiffload decodes it" \
		mad_le "level $lv" "$TMPD/narrow-ref$lv.v" "$TMPD/narrow-got$lv.v" 0.5
done

done_testing
