#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seed corpora of the fuzz targets, so no binary is committed:
#   OUTDIR/pipeline/  pipeline texts (fixtures s.tif, g.png, p.csv: see
#                     fuzz/fuzz-common.h)
#   OUTDIR/manifest/  a flags byte (see fuzz/manifest_fuzzer.c) + a manifest
#   OUTDIR/template/  a --pipeline template line + manifest rows under the
#                     header slide,out,v,n (see fuzz/template_fuzzer.c)
#   OUTDIR/load/      small images: tiled JPEG pyramids (make-slide and
#                     libvips), LZW/deflate/none, striped, 1-, 2-, 4-band,
#                     16-bit, float, BigTIFF, an Aperio-described SVS (for
#                     OpenSlide), PNG, JPEG, DICOM WSI instances (with
#                     pydicom); each a few KB
#
# usage: fuzz/make-seeds.sh OUTDIR
# environment: EXAMPLES, the directory holding the built examples/make-slide
# (default: examples/ beside this script); without it, the libvips-made
# seeds only. Needs vips (libvips-tools) and tiffset (libtiff-tools).
set -eu

[ $# -eq 1 ] || {
	echo "usage: $0 OUTDIR" >&2
	exit 2
}
out=$1
here=$(cd "$(dirname "$0")" && pwd)
: "${EXAMPLES:=$here/../examples}"
mkdir -p "$out/pipeline" "$out/manifest" "$out/load" "$out/template" "$out/aperio" \
	"$out/annotations"
export VIPS_WARNING=0

# --- pipelines ---------------------------------------------------------
n=0
pipe() {
	n=$((n + 1))
	printf '%s' "$1" >"$out/pipeline/seed-$n"
}
pipe 'load s.tif ! crop 10 20 100 50 ! downsample 2 ! save o.tif Q=85'
pipe 'load s.tif ! crop 0 0 64 64 ! save o.tif compression=copy tile=64'
pipe 'load s.tif level=1 ! save o.png'
pipe 'load s.tif ! crop 5 5 20 20 units=um ! downsample mpp=1 ! save o.jpg'
pipe 'load s.tif ! downsample 1.5 exact ! threshold method=otsu channel=gray invert ! save m.tif compression=lzw pyramid=false'
pipe 'load s.tif ! threshold value=30 ! save m.tif bigtiff=true'
pipe 'load s.tif ! tiles t size=32 stride=16 format=jpeg Q=70 min-tissue=0.1 edge=pad grid=level0'
pipe 'load s.tif ! tiles t size=16 level=1 mask="load s.tif ! threshold" prefix=p_'
pipe 'load s.tif ! tiles t size=16 mpp=1 mask=g.png format=tiff'
pipe 'load s.tif ! downsample 4 ! overlay p.csv column=score cmap=magma alpha=0.5 range=0,1 ! save o.png'
pipe 'load g.png ! overlay p.csv palette=a:#ff0000,b:#00ff00 legend=false ! save o.png'
pipe 'load g.png ! crop 1 1 10 10 ! save "o p.tif" tile=16'
pipe 'load s.tif associated=label ! save o.png'
pipe "load 's.tif'! crop 1e2 0x10 1 1 !save o.tif"
pipe 'load s.tif !threshold! downsample factor=3 ! save o.tif compression=deflate'

# --- manifests (first byte: flags) ---------------------------------------
n=0
manifest() {
	n=$((n + 1))
	printf "$1" >"$out/manifest/seed-$n"
}
manifest '\000slide,x,y,w,h,out\ns.tif,0,0,100,100,a.tif\ns.tif,10,10,50,50,sub/b.png\n'
manifest '\001slide,x,y,w,h,out,level,downsample\ns.tif,0,0,300,200,a.tif,1,\ns.tif,0,0,300,200,b.tif,,2\n'
manifest '\002slide,x,y,w,h,out,mpp\r\ns.tif,1,1,20,20,a.tif,2\r\n'
manifest '\004slide,x,y,w,h,out,downsample\n"s.tif",0,0,64,64,"a ""b"".tif",2\n'
manifest '\010slide,out,level\ns.tif,a.tif,1\ng.png,b.tif,0\n'
manifest '\014slide,out,w,h\ns.tif,tiles,32,16\n'
manifest '\020slide\tx\ty\tw\th\tout\ns.tif\t0\t0\t10\t10\ta.tif\ns.tif\t0\t0\t10\t10\tb.tif\ns.tif\t0\t0\t10\t10\tc.tif\n'
manifest '\000\357\273\277# comment\n\nslide,x,y,w,h,out,units\ns.tif,0,0,10,10,a.tif,um\ns.tif,0,0,10,10,a.tif,px\nmissing.tif,0,0,1,1,../x.tif\n'
manifest '\000slide,x,y,w,h,out\ns.tif,-1,nan,inf,1e308,a.tif\ns.tif,0,0,10,10,\n,0,0,1,1,b.tif\n"unterminated,0,0,1,1,c.tif\n'
manifest '\001slide,x,y,w,h,out\ns.tif,0,0,10,10,\377\376.tif\n'

# --- templates with values (first line: the template) ---------------------
n=0
template() {
	n=$((n + 1))
	printf '%s\n%s' "$1" "$2" >"$out/template/seed-$n"
}
template 'load {slide} ! crop 0 0 16 16 ! save {out}' 's.tif,a.png,x,1
s.tif,sub/b.tif,y,2
'
template 'load {slide} ! crop 0 0 8 8 ! save {v}' 's.tif,a.png,path=../x.png,1
s.tif,b.png,x.png ! save ../y.png,2
s.tif,c.png,l/z.png,3
s.tif,d.png,d/up/w.png,4
'
template 'load {slide} ! crop 0 0 8 8 ! save {out} path={v}' 's.tif,a.png,../e.png,1
'
template 'load {slide} ! crop 0 0 32 32 ! tiles {v} size=16 prefix={n}' 's.tif,a,t,p_
s.tif,b,l/t,q_
s.tif,c,"d/up/t",r_
'
template "load {slide} ! crop {n} 0 8 8 ! save 'x {v}.png'" 's.tif,a.png,"a ""q"" b",1
s.tif,b.png,"two
lines",2
'
template 'load {slide} level={n} ! save ../{out}' 's.tif,a.png,,0
g.png,f/x.png,,0
s.tif,d/lf.png,,1
'
template 'load {slide}!crop 0 0 4 4!save {v}{out}' 's.tif,a.png,/tmp/,1
s.tif,.png,!,2
'

# --- images ---------------------------------------------------------------
L=$out/load
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sp-seeds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# a smooth RGB picture and a grey one, 96 × 64
vips xyz "$tmp/xy.v" 96 64
vips extract_band "$tmp/xy.v" "$tmp/x.v" 0
vips extract_band "$tmp/xy.v" "$tmp/y.v" 1
vips add "$tmp/x.v" "$tmp/y.v" "$tmp/s.v"
vips bandjoin "$tmp/x.v $tmp/y.v $tmp/s.v" "$tmp/rgbi.v"
vips cast "$tmp/rgbi.v" "$tmp/rgb.v" uchar
vips copy "$tmp/rgb.v" "$tmp/rgb2.v" --interpretation srgb
vips cast "$tmp/x.v" "$tmp/grey.v" uchar

t() { vips tiffsave "$@"; }
t "$tmp/rgb2.v" "$L/jpeg-pyramid.tif" --tile --tile-width 16 --tile-height 16 \
	--pyramid --compression jpeg --Q 50 --resunit cm --xres 2000 --yres 2000
t "$tmp/rgb2.v" "$L/jpeg-subifd.tif" --tile --tile-width 32 --tile-height 32 \
	--pyramid --subifd --compression jpeg --Q 40
t "$tmp/rgb2.v" "$L/lzw-tiled.tif" --tile --tile-width 32 --tile-height 32 \
	--compression lzw --predictor horizontal
t "$tmp/rgb2.v" "$L/deflate-pyramid.tif" --tile --tile-width 16 --tile-height 16 \
	--pyramid --compression deflate
t "$tmp/grey.v" "$L/grey-jpeg.tif" --tile --tile-width 16 --tile-height 16 \
	--pyramid --compression jpeg --Q 50
t "$tmp/grey.v" "$L/grey-striped.tif" --compression none
t "$tmp/rgb2.v" "$L/rgb-striped-lzw.tif" --compression lzw
t "$tmp/rgb2.v" "$L/bigtiff.tif" --tile --tile-width 32 --tile-height 32 \
	--bigtiff --compression none --pyramid
vips bandjoin_const "$tmp/rgb2.v" "$tmp/rgba.v" 200
t "$tmp/rgba.v" "$L/rgba-tiled.tif" --tile --tile-width 32 --tile-height 32 \
	--compression deflate
vips bandjoin_const "$tmp/grey.v" "$tmp/ga.v" 255
t "$tmp/ga.v" "$L/grey-alpha.tif" --compression none
vips cast "$tmp/s.v" "$tmp/u16.v" ushort
t "$tmp/u16.v" "$L/ushort.tif" --tile --tile-width 16 --tile-height 16 \
	--compression deflate
vips cast "$tmp/s.v" "$tmp/f.v" float
t "$tmp/f.v" "$L/float.tif" --compression none
# Aperio's description makes OpenSlide take it as an SVS
t "$tmp/rgb2.v" "$L/aperio.svs" --tile --tile-width 16 --tile-height 16 \
	--pyramid --compression jpeg --Q 40
tiffset -s 270 'Aperio Image Library v10.0.0
96x64 [0,0 96x64] (16x16) JPEG/RGB Q=40|AppMag = 20|MPP = 0.5' "$L/aperio.svs"
vips pngsave "$tmp/rgb2.v" "$L/rgb.png"
vips pngsave "$tmp/ga.v" "$L/grey-alpha.png"
vips jpegsave "$tmp/rgb2.v" "$L/rgb.jpg" --Q 40

# --- Aperio descriptions (fuzz/aperio_fuzzer.c); the last byte's low
# two bits 0 sends one through the whole svs path ---------------------------
A=$out/aperio
printf 'Aperio Image Library v12.0.0\r\n46000x32914 [42673,5576 2220x2967] (240x240) JPEG/RGB Q=30|AppMag = 20|StripeWidth = 2040|ScanScope ID = CPAPERIOCS|Filename = CMU-1|Date = 12/29/09|Time = 09:59:15|User = b414003d-95c6-48b0-9369-8010ed517ba7|Parmset = USM Filter|MPP = 0.4990|Left = 25.691574|Top = 23.449873|LineCameraSkew = -0.000424|LineAreaXOffset = 0.019265|LineAreaYOffset = -0.000313|Focus Offset = 0.000000|ImageID = 1004486|OriginalWidth = 46920|Originalheight = 33014|Filtered = 5|OriginalWidth = 46000|OriginalHeight = 32914' >"$A/cmu-1"
printf 'Aperio Image Library v1\r\n1000x1000 ||| MPP = |AppMag=|=|' >"$A/empty-fields"
printf 'Aperio Image Library v1\r\n1000x1000 |AppMag = 4294967296|MPP = nan|ICC Profile = AT2|A = 1|A = 2|B = \001\n|' >"$A/numbers-and-junk"
printf 'Aperio Image Library v1\r\n1000x1000 |AppMag = 40|MPP = 0.25|Left = 1.0' >"$A/svs-path"

if [ -x "$EXAMPLES/make-slide" ]; then
	"$EXAMPLES/make-slide" 300 260 "$L/make-slide.tif" >/dev/null
	"$EXAMPLES/make-slide" 96 64 "$L/make-slide-striped.tif" --striped \
		--no-mpp >/dev/null
fi
# DICOM whole-slide instances (src/dicom.c): every frame layout the reader
# takes, written by tests/dicom.py with pydicom when it is there
if /usr/bin/python3 -c 'import pydicom, numpy, PIL' 2>/dev/null; then
	/usr/bin/python3 "$here/../tests/dicom.py" --seeds "$L" >/dev/null
fi
echo "make-seeds: $(ls "$out/pipeline" | wc -l) pipelines, $(ls "$out/manifest" | wc -l) manifests, $(ls "$out/template" | wc -l) templates, $(ls "$L" | wc -l) images, $(ls "$A" | wc -l) descriptions in $out"

# --- GeoJSON annotations (fuzz/annotations_fuzzer.c) ----------------------
n=0
geo() {
	n=$((n + 1))
	printf '%s' "$1" >"$out/annotations/seed-$n"
}
geo '{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[40,0],[40,30],[0,30],[0,0]],[[10,10],[20,10],[15,20],[10,10]]]},"properties":{"name":"t","classification":{"name":"Tumor","color":[200,0,0]}}}]}'
geo '[{"type":"Feature","geometry":{"type":"MultiPolygon","coordinates":[[[[1.5,1.5],[30.5,2],[20,40.5],[1.5,1.5]]],[[[10,10],[60,10],[60,60],[10,10]]]]},"properties":{"objectType":"annotation","classification":"Stroma"}}]'
geo '{"type":"Polygon","coordinates":[[[0,0],[10,20],[20,0],[0,20],[20,20],[0,0]]]}'
geo '{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0.5,0.5],[5.5,0.5],[5.5,3.5],[0.5,3.5]]]},"properties":{"colorRGB":-65536}}'
geo '{"features":[{"type":"Feature","geometry":null,"properties":{}},{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[-100,-100],[1e6,0],[0,1e6],[-100,-100]]]}}],"type":"FeatureCollection","bbox":[0,0,1,1]}'
