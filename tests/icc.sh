#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# ICC colour (issue 7): `slidepipe info` names the embedded profile (lcms2's
# description); save keeps it byte for byte (icc=keep, the default), drops
# it (icc=drop) or converts the pixels to sRGB as `vips icc_transform …
# srgb` does (icc=srgb, mean difference <= 1). The source with a non-sRGB
# profile is made here: make-slide's slide re-saved by vips tiffsave with
# a profile built by lcms2 (tests/make-icc.c, Adobe RGB primaries). The
# real TCGA slide embeds an sRGB profile (3144 bytes).

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

: "${TESTS_BUILDDIR:=$TESTS_SRCDIR}"
command -v vips >/dev/null || skip_all "vips (libvips-tools) not installed"
[ -x "$TESTS_BUILDDIR/make-icc" ] || skip_all "tests/make-icc is not built"

SLIDES=$SHARED_DIR/slides
TCGA=$SLIDES/tcga-cr-7395-01a-01-ts1.svs

# the tagged source: 1500 × 1100, JPEG Q 95 pyramid, wide-gamut profile
"$TESTS_BUILDDIR/make-icc" "$TMPD/wide.icc" || {
	echo "Bail out! make-icc failed"
	exit 99
}
make_slide 1500 1100 "$TMPD/plain.tif" --mpp 0.5
SRC=$TMPD/tagged.tif
vips tiffsave "$TMPD/plain.tif" "$SRC" --tile --pyramid --compression jpeg \
	--Q 95 --tile-width 256 --tile-height 256 --profile "$TMPD/wide.icc" \
	--resunit cm --xres 2000 --yres 2000 || {
	echo "Bail out! vips tiffsave --profile failed"
	exit 99
}

sha() {
	sha256sum "$1" | cut -d' ' -f1
}

# icc_sha FILE: sha256 of the ICC profile (tag 34675) in FILE's first
# directory, read from the TIFF's bytes, or "none"
icc_sha() {
	"$PYTHON" - "$1" <<'EOF'
import hashlib, struct, sys
f = open(sys.argv[1], "rb")
data = f.read()
bo = "<" if data[:2] == b"II" else ">"
magic = struct.unpack(bo + "H", data[2:4])[0]
if magic == 42:
    ifd = struct.unpack(bo + "I", data[4:8])[0]
    n = struct.unpack(bo + "H", data[ifd:ifd + 2])[0]
    entries = [data[ifd + 2 + 12 * i: ifd + 14 + 12 * i] for i in range(n)]
    for e in entries:
        tag, typ, count = struct.unpack(bo + "HHI", e[:8])
        if tag == 34675:
            off = struct.unpack(bo + "I", e[8:12])[0]
            print(hashlib.sha256(data[off:off + count]).hexdigest())
            sys.exit(0)
else:
    ifd = struct.unpack(bo + "Q", data[8:16])[0]
    n = struct.unpack(bo + "Q", data[ifd:ifd + 8])[0]
    for i in range(n):
        e = data[ifd + 8 + 20 * i: ifd + 28 + 20 * i]
        tag, typ, count = struct.unpack(bo + "HHQ", e[:12])
        if tag == 34675:
            off = struct.unpack(bo + "Q", e[12:20])[0]
            print(hashlib.sha256(data[off:off + count]).hexdigest())
            sys.exit(0)
print("none")
EOF
}

# ------------------------------------------------------------------ info
sp info "$SRC"
check "info: names the embedded profile (lcms2 description) and its size" eval \
	'rc_is 0 && has "$SP_OUT" "^icc profile: slidepipe test wide-gamut RGB \\([0-9]+ bytes\\)$"'
sp info "$SRC" --json
check "info --json: icc_profile description and bytes" eval \
	'rc_is 0 && eq json "slidepipe test wide-gamut RGB $(wc -c <"$TMPD/wide.icc")" \
		"$("$PYTHON" -c "import json,sys; d=json.load(sys.stdin)[\"icc_profile\"]; print(d[\"description\"], d[\"bytes\"])" <"$SP_OUT")"'
sp info "$TMPD/plain.tif" --json
check "info --json: icc_profile null without a profile" eval \
	'rc_is 0 && eq json None "$("$PYTHON" -c "import json,sys; print(json.load(sys.stdin)[\"icc_profile\"])" <"$SP_OUT")"'
if [ -f "$TCGA" ]; then
	sp info "$TCGA"
	check "info TCGA: sRGB IEC61966-2.1, 3144 bytes; thumbnail 956 × 768" eval \
		'rc_is 0 && has "$SP_OUT" "^icc profile: sRGB IEC61966-2.1 \\(3144 bytes\\)$" \
			"^  thumbnail: 956 × 768 px$"'
else
	skip "info TCGA: its sRGB profile" "../shared/slides is absent"
fi

# ---------------------------------------------------------- icc=keep
WANT=$(sha "$TMPD/wide.icc")
check "the source embeds the test profile" eq "source profile" "$WANT" "$(icc_sha "$SRC")"
for f in out.tif out.svs; do
	sp load "$SRC" ! crop 100 200 1200 800 ! save "$TMPD/$f"
	check "icc=keep (default), $f: profile kept byte for byte" eval \
		'rc_is 0 && eq "profile sha256" "$WANT" "$(icc_sha "$TMPD/$f")"'
done
sp load "$SRC" ! crop 100 200 1200 800 ! save "$TMPD/lzw.tif" compression=lzw
check "icc=keep, compression=lzw (libvips' writer): profile kept byte for byte" eval \
	'rc_is 0 && eq "profile sha256" "$WANT" "$(icc_sha "$TMPD/lzw.tif")"'
sp load "$SRC" ! crop 256 256 1024 512 ! save "$TMPD/copy.tif" compression=copy
check "icc=keep, compression=copy: profile kept byte for byte" eval \
	'rc_is 0 && eq "profile sha256" "$WANT" "$(icc_sha "$TMPD/copy.tif")"'

# ---------------------------------------------------------- icc=drop
sp load "$SRC" ! crop 100 200 1200 800 ! save "$TMPD/drop.tif" icc=drop compression=lzw
check "icc=drop: no profile" eval \
	'rc_is 0 && eq profile none "$(icc_sha "$TMPD/drop.tif")"'
check "icc=drop: pixels unchanged (same as icc=keep)" \
	mad_le "drop vs keep" "$TMPD/drop.tif" "$TMPD/lzw.tif" 0

# ---------------------------------------------------------- icc=srgb
# the reference: libvips' own transform of the same region
vips crop "$SRC" "$TMPD/region.v" 100 200 1200 800
vips icc_transform "$TMPD/region.v" "$TMPD/ref.v" srgb --embedded
vips cast "$TMPD/ref.v" "$TMPD/ref-u.v" uchar
vips extract_band "$TMPD/ref-u.v" "$TMPD/ref.tif" 0 --n 3

sp load "$SRC" ! crop 100 200 1200 800 ! save "$TMPD/srgb.tif" icc=srgb compression=lzw
check "icc=srgb: saved, no profile embedded" eval \
	'rc_is 0 && eq profile none "$(icc_sha "$TMPD/srgb.tif")"'
check "icc=srgb: pixels as vips icc_transform … srgb (mean difference <= 1)" \
	mad_le "srgb vs vips icc_transform" "$TMPD/srgb.tif" "$TMPD/ref.tif" 1
m=$(mad "$TMPD/lzw.tif" "$TMPD/ref.tif")
check "icc=srgb changes pixels: unconverted output differs by > 2 (got $m)" \
	num_ge "unconverted vs converted" "$m" 2
sp load "$SRC" ! crop 100 200 1200 800 ! save "$TMPD/srgb.svs" icc=srgb Q=98
vips extract_band "$TMPD/srgb.svs" "$TMPD/srgb-svs.tif" 0 --n 3 2>/dev/null ||
	vips copy "$TMPD/srgb.svs" "$TMPD/srgb-svs.tif"
check "icc=srgb into .svs (JPEG Q 98): no profile, pixels within 2 of vips'" eval \
	'rc_is 0 && eq profile none "$(icc_sha "$TMPD/srgb.svs")" &&
		mad_le "srgb.svs vs vips icc_transform" "$TMPD/srgb-svs.tif" "$TMPD/ref.tif" 2'
sp load "$SRC" ! crop 256 256 1024 512 ! save "$TMPD/x.tif" icc=srgb compression=copy
check "icc=srgb with compression=copy: usage error" eval \
	'rc_is 2 && has "$SP_ERR" "compression=copy is impossible with icc=srgb"'

if [ -f "$TCGA" ]; then
	sp load "$TCGA" ! crop 512 512 1024 1024 ! save "$TMPD/tcga.svs"
	check "TCGA .svs: its sRGB profile kept byte for byte, 'ICC Profile' key kept" eval \
		'rc_is 0 && eq "profile sha256" "$(icc_sha "$TCGA")" "$(icc_sha "$TMPD/tcga.svs")" &&
			"$SLIDEPIPE" info "$TMPD/tcga.svs" | grep -q "^  aperio.ICC Profile = IEC 61966-2.1"'
	sp load "$TCGA" ! crop 512 512 1024 1024 ! save "$TMPD/tcga-drop.svs" icc=drop
	check "TCGA .svs icc=drop: no profile, no 'ICC Profile' key" eval \
		'rc_is 0 && eq profile none "$(icc_sha "$TMPD/tcga-drop.svs")" &&
			! "$SLIDEPIPE" info "$TMPD/tcga-drop.svs" | grep -q "ICC Profile"'
else
	skip "TCGA: its sRGB profile kept" "../shared/slides is absent"
fi

diag "measured: srgb vs vips icc_transform $(mad "$TMPD/srgb.tif" "$TMPD/ref.tif"), srgb.svs $(mad "$TMPD/srgb-svs.tif" "$TMPD/ref.tif"), unconverted $m"
done_testing
