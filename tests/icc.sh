#!/bin/sh
# ICC colour (issue 7): `slidepipe info` names the embedded profile (lcms2's
# description). The source with a non-sRGB
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

done_testing
