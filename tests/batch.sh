#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# slidepipe batch: good and bad rows in one manifest, the report, dry
# runs, shards that cover the manifest exactly once, resuming after
# SIGKILL, TSV/BOM/CRLF manifests, templates and micrometres.

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

[ -x "$EXAMPLES/make-slide" ] || skip_all "$EXAMPLES/make-slide not built"
command -v vips >/dev/null || skip_all "vips (libvips-tools) not installed"

S=$TMPD/slide.tif   # 4000 × 3000, 0.25 µm/px
make_slide 4000 3000 "$S"
cd "$TMPD" || exit 99

# ------------------------------------------------- good and bad rows
cat >mixed.csv <<EOF
slide,x,y,w,h,out
$S,0,0,512,512,a.png
$S,100,200,300,400,sub/b.png
$TMPD/missing.tif,0,0,10,10,c.png
$S,3900,0,512,512,d.png
$S,abc,0,10,10,e.png
$S,10,10,64,64,a.png
$S,0,0,10,10,../escape.png
$S,1000,1000,256,128,f.tif
EOF
sp batch mixed.csv --out-dir out --report report.csv -j 2
check "mixed manifest: exit 1 (some rows failed)" rc_is 1
check "good rows: a.png 512 × 512" eq "size" "512 512" "$(size out/a.png)"
check "good rows: sub/b.png 300 × 400 (subdirectory made)" \
	eq "size" "300 400" "$(size out/sub/b.png)"
check "good rows: f.tif 256 × 128" eq "size" "256 128" "$(size out/f.tif)"
vips crop "$S" ref.v 100 200 300 400
check "good rows: b.png holds the region (MAD <= 3 against vips crop)" \
	mad_le "b.png" out/sub/b.png ref.v 3
check "report: a header and one line per row (8)" \
	eq "lines" 9 "$(wc -l <report.csv | tr -d ' ')"
check "report: the missing slide, with its reason" has report.csv \
	"^3,.*missing\.tif,c\.png,failed,load: cannot open '.*missing\.tif': No such file or directory,"
check "report: the region outside, naming the slide's size" has report.csv \
	'^4,.*,d\.png,failed,crop: region x=3900 .*4000 × 3000 level-0 px'
check "report: the bad number" has report.csv \
	"^5,.*,e\.png,failed,crop: argument 'x': 'abc' is not a finite number"
check "report: the duplicate output" has report.csv \
	'^6,.*,a\.png,invalid,output .a\.png. is also written by row 1'
check "report: the ../ path" has report.csv \
	"^7,.*,\.\./escape\.png,invalid,output '\.\./escape\.png' leaves --out-dir"
check "report: good rows ok with their bytes" has report.csv \
	'^1,.*,a\.png,ok,,[0-9.]+,[1-9][0-9]*$' '^8,.*,f\.tif,ok,,[0-9.]+,[1-9][0-9]*$'
check "nothing escaped --out-dir" absent escape.png "$TMPD/escape.png"
check "nothing written for the bad rows" absent out/c.png out/d.png out/e.png
check "stderr names each bad row and its line" has "$SP_ERR" \
	'^slidepipe: batch: row 3 \(line 4\): load: cannot open' \
	'^slidepipe: batch: row 7 \(line 8\): output'
check "stderr: the summary" has "$SP_ERR" \
	'^slidepipe: batch: 8 rows: 3 ok, 0 skipped \(done before\), 5 failed'

# ---------------------------------------------------------- dry run
sp batch mixed.csv --out-dir dry --report dry.csv --dry-run
check "dry run: exit 1" rc_is 1
_bad_run=$(awk -F, 'NR > 1 && $4 != "ok" {print $1}' report.csv | sort -n | paste -sd' ')
_bad_dry=$(awk -F, 'NR > 1 && $4 != "valid" {print $1}' dry.csv | sort -n | paste -sd' ')
check "dry run: finds the same bad rows (3 4 5 6 7)" eq "bad rows" "$_bad_run" "$_bad_dry"
check "dry run: the good rows are valid" has dry.csv '^1,.*,valid,' '^8,.*,valid,'
check "dry run: no pixel work, no output file" \
	eq "files" "" "$(find dry -type f 2>/dev/null)"

# --------------------------------------------------------- resuming
sp batch mixed.csv --out-dir out --report again.csv
check "rerun: finished rows are skipped" has again.csv '^1,.*,skipped,' '^8,.*,skipped,'
sp batch mixed.csv --out-dir out --report forced.csv --force
check "--force: finished rows are redone" has forced.csv '^1,.*,ok,' '^8,.*,ok,'

# ----------------------------------------------------------- shards
{
	echo "slide,x,y,w,h,out"
	i=0
	while [ $i -lt 13 ]; do
		echo "$S,$((i * 200)),$((i * 150)),256,192,r$i.png"
		i=$((i + 1))
	done
} >rows.csv
sp batch rows.csv --out-dir all
check "shards: unsharded run exits 0" rc_is 0
sp batch rows.csv --out-dir sharded --shard 1/2
_rc1=$RC
sp batch rows.csv --out-dir sharded --shard 2/2
check "shards: both shards exit 0" eq "exit codes" "0 0" "$_rc1 $RC"
check "shards: 2/2 takes the odd rows (1, 3, …: 6 of 13)" has "$SP_ERR" \
	'^slidepipe: batch: 6 rows: 6 ok'
_all=$(cd all && ls | sort | paste -sd' ')
_sharded=$(cd sharded && ls | sort | paste -sd' ')
check "shards: together exactly the unsharded outputs" eq "outputs" "$_all" "$_sharded"
_same=0
for f in all/*.png; do
	cmp -s "$f" "sharded/${f#all/}" && _same=$((_same + 1))
done
check "shards: every output byte-identical to the unsharded one (13)" \
	eq "identical" 13 "$_same"
SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_COUNT=3 \
	sp batch rows.csv --out-dir slurm --shard slurm
check "--shard slurm: task 3 of 3 runs rows 3, 6, 9, 12 (4 rows)" has "$SP_ERR" \
	'^slidepipe: batch: 4 rows: 4 ok'
check "--shard slurm: those rows' outputs" \
	eq "outputs" "r11.png r2.png r5.png r8.png" "$(cd slurm && ls | sort | paste -sd' ')"
sp batch rows.csv --shard 3/2
check "--shard 3/2: exit 2" rc_is 2

# ------------------------------- rows sharing the slide's readers
# Rows of one slide share its reader (TIFF handles, decoded tiles) while
# they run; overlapping crops on 4 workers must give exactly the bytes of
# one pipeline per crop.
{
	echo "slide,x,y,w,h,out"
	i=0
	while [ $i -lt 12 ]; do
		echo "$S,$((1000 + i * 37)),$((800 + i * 23)),300,200,o$i.png"
		i=$((i + 1))
	done
} >overlap.csv
sp batch overlap.csv --out-dir shared -j 4
check "shared readers: 12 overlapping rows on 4 workers exit 0" rc_is 0
_same=0
i=0
while [ $i -lt 12 ]; do
	"$SLIDEPIPE" -q load "$S" ! crop $((1000 + i * 37)) $((800 + i * 23)) \
		300 200 ! save "single-o$i.png" >/dev/null 2>&1
	cmp -s "shared/o$i.png" "single-o$i.png" && _same=$((_same + 1))
	i=$((i + 1))
done
check "shared readers: every output byte-identical to its own pipeline's (12)" \
	eq "identical" 12 "$_same"
(umask 027 && "$SLIDEPIPE" batch overlap.csv --out-dir perm -j 4 \
	--no-progress >/dev/null 2>&1)
check "outputs get 0666 less the umask (027: 640), on every worker" \
	eq "modes" "640" "$(stat -c %a perm/*.png | sort -u | paste -sd' ')"

# --------------------------------------------- killed, then rerun
{
	echo "slide,x,y,w,h,out"
	i=0
	while [ $i -lt 40 ]; do
		echo "$S,$(((i % 8) * 300)),$(((i / 8) * 300)),1536,1536,k$i.tif"
		i=$((i + 1))
	done
} >kill.csv
"$SLIDEPIPE" batch kill.csv --out-dir killed -j 1 --no-progress >/dev/null 2>&1 &
_pid=$!
_n=0
while [ "$(ls killed 2>/dev/null | grep -c '\.tif$')" -lt 3 ] && [ $_n -lt 300 ]; do
	sleep 0.05
	_n=$((_n + 1))
done
kill -9 $_pid 2>/dev/null
wait $_pid 2>/dev/null
_done_before=$(ls killed | grep -c '\.tif$')
if [ "$_done_before" -ge 40 ]; then
	skip "SIGKILL mid-way, then rerun" "the batch finished before it was killed"
else
	sp batch kill.csv --out-dir killed --report kill-report.csv
	check "after SIGKILL ($_done_before of 40 done): rerun exits 0" rc_is 0
	_valid=0
	for i in $(seq 0 39); do
		[ "$(size "killed/k$i.tif")" = "1536 1536" ] && _valid=$((_valid + 1))
	done
	check "after SIGKILL: all 40 outputs present, open, 1536 × 1536" \
		eq "valid outputs" 40 "$_valid"
	check "after SIGKILL: the finished rows were skipped, not redone" \
		eq "skipped" "$_done_before" "$(grep -c ',skipped,' kill-report.csv)"
	check "after SIGKILL: no temporary file left" no_temp killed
fi

# --------------------------------------------- TSV, BOM, CRLF, units
printf '\357\273\277slide\tx\ty\tw\th\tunits\tout\r\n%s\t25\t25\t50\t50\tum\tum.png\r\n%s\t0\t0\t400\t400\tpx\tpx.png\r\n' \
	"$S" "$S" >bom.tsv
sp batch bom.tsv --out-dir tsv
check "TSV with a BOM and CRLF lines: exit 0" rc_is 0
check "units=um column: 50 µm at 0.25 µm/px is 200 px" eq "size" "200 200" "$(size tsv/um.png)"
check "units=px column" eq "size" "400 400" "$(size tsv/px.png)"

# ----------------------------------------- downsample, level, template
cat >more.csv <<EOF
slide,x,y,w,h,downsample,mpp,level,out,label
$S,0,0,2000,1000,4,,,ds.png,one
$S,0,0,2000,1000,,1.0,,mpp.png,two
$S,0,0,2000,1000,,,1,level.tif,three
EOF
sp batch more.csv --out-dir more --report more.jsonl
check "downsample/mpp/level columns: exit 0" rc_is 0
check "downsample column: 500 × 250" eq "size" "500 250" "$(size more/ds.png)"
check "mpp column: 1 µm from 0.25 is 500 × 250" eq "size" "500 250" "$(size more/mpp.png)"
check "level column: level 1 of the crop, 1000 × 500" \
	eq "size" "1000 500" "$(size more/level.tif)"
check "JSON Lines report: one valid object per row" eq "rows" 3 \
	"$(python3 -c 'import json, sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["status"] == "ok"))' more.jsonl 2>&1)"
sp batch more.csv --out-dir tpl --pipeline 'load {slide} ! crop {x} {y} 64 32 ! save {out}'
check "--pipeline template: exit 0" rc_is 0
check "--pipeline template: {column}s filled in" eq "size" "64 32" "$(size tpl/ds.png)"
sp batch more.csv --out-dir tpl2 --pipeline 'load {slide} ! crop {nosuch} 0 8 8 ! save {out}'
check "--pipeline with an unknown column: every row fails, exit 1" rc_is 1
check "--pipeline with an unknown column: says which" has "$SP_ERR" "\{nosuch\} has no value"

# ------------------------------------------------ unusable manifests
sp batch "$TMPD/none.csv"
check "missing manifest: exit 2" rc_is 2
printf 'slide,x,y\n%s,1,2\n' "$S" >short.csv
sp batch short.csv
check "manifest without w, h, out: exit 2, names the column" \
	eval 'rc_is 2 && has "$SP_ERR" "has no .w. column"'
: >empty.csv
sp batch empty.csv
check "empty manifest: exit 2" rc_is 2

done_testing
