#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# slidepipe batch as a Slurm array job: slurmctld, slurmd and munged are
# started on localhost in a scratch directory, a 2-task array runs
# `batch --shard slurm`, and the two tasks must cover the manifest
# exactly once. Skips, saying why, where Slurm is not installed or cannot
# start (install-deps.sh installs Debian's slurm-wlm and munge).

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

for t in slurmctld slurmd munged sbatch squeue sinfo; do
	command -v $t >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
	command -v $t >/dev/null 2>&1 || skip_all "Slurm is not installed ($t missing): apt-get install slurm-wlm munge"
done
[ -x "$EXAMPLES/make-slide" ] || skip_all "$EXAMPLES/make-slide not built"

D=$TMPD/slurm
mkdir -p "$D/state" "$D/spool" "$D/log" "$D/munge" "$D/run"
stop_slurm() {
	[ -n "${job:-}" ] && scancel "$job" 2>/dev/null
	_pids=$(cat "$D/slurmd.pid" "$D/slurmctld.pid" "$D/run/munged.pid" 2>/dev/null)
	[ -n "$_pids" ] && kill $_pids 2>/dev/null
	# the daemons take a moment to stop; the next run needs their ports
	_w=0
	while [ $_w -lt 20 ] && kill -0 $_pids 2>/dev/null; do
		sleep 0.25
		_w=$((_w + 1))
	done
	[ -n "$_pids" ] && kill -9 $_pids 2>/dev/null
	rm -rf "$TMPD"
}
trap stop_slurm EXIT

chmod 700 "$D/munge"
dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$D/munge/munge.key"
munged --key-file="$D/munge/munge.key" --socket="$D/run/munge.socket" \
	--pid-file="$D/run/munged.pid" --log-file="$D/log/munged.log" \
	--seed-file="$D/munge/seed" -f >"$D/log/munged.out" 2>&1 ||
	skip_all "munged cannot start here: $(tail -1 "$D/log/munged.out")"
host=$(hostname -s)
cat >"$D/slurm.conf" <<CONF
ClusterName=slidepipetest
SlurmctldHost=$host
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
AuthInfo=socket=$D/run/munge.socket
CredType=cred/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$D/slurm.conf
slurmctld -f "$SLURM_CONF" >"$D/log/slurmctld.out" 2>&1 &&
	slurmd -f "$SLURM_CONF" >"$D/log/slurmd.out" 2>&1 ||
	skip_all "Slurm cannot start here: $(tail -1 "$D/log/slurmctld.out" "$D/log/slurmd.out" 2>/dev/null | tr '\n' ' ')"
_n=0
until sinfo -h -o %t 2>/dev/null | grep -q idle; do
	_n=$((_n + 1))
	[ $_n -gt 40 ] && skip_all "Slurm did not bring its node up here: $(tail -1 "$D/log/slurmd.log" 2>/dev/null)"
	sleep 0.5
done
ok "Slurm (slurmctld + slurmd, munge) runs on $host"

S=$TMPD/slide.tif
make_slide 3000 2000 "$S"
{
	echo "slide,x,y,w,h,out"
	i=0
	while [ $i -lt 11 ]; do
		echo "$S,$((i * 200)),$((i * 100)),128,96,r$i.png"
		i=$((i + 1))
	done
} >"$TMPD/m.csv"

job=$(sbatch --parsable --array=1-2 -o "$TMPD/job-%a.out" --wrap \
	"'$SLIDEPIPE' batch '$TMPD/m.csv' --out-dir '$TMPD/out' --shard slurm -j 1 --report '$TMPD'/report-\$SLURM_ARRAY_TASK_ID.csv" 2>&1)
check "sbatch accepts a 2-task array job" eval 'case "$job" in *[!0-9]*|"") diag "sbatch: $job"; false;; esac'
_n=0
while [ -n "$(squeue -h -j "$job" 2>/dev/null)" ] && [ $_n -lt 240 ]; do
	sleep 0.5
	_n=$((_n + 1))
done
check "the array job finished" eq "jobs left" "" "$(squeue -h -j "$job" 2>/dev/null)"
check "task 1 ran rows 1, 3, …, 11 (6 rows)" has "$TMPD/job-1.out" \
	'^slidepipe: batch: 6 rows: 6 ok'
check "task 2 ran rows 2, 4, …, 10 (5 rows)" has "$TMPD/job-2.out" \
	'^slidepipe: batch: 5 rows: 5 ok'
_rows=$(cat "$TMPD"/report-1.csv "$TMPD"/report-2.csv | awk -F, '$1 != "row" {print $1}' | sort -n | paste -sd' ')
check "together the tasks cover every row exactly once" \
	eq "rows" "1 2 3 4 5 6 7 8 9 10 11" "$_rows"
check "every output written (11)" eq "outputs" 11 "$(ls "$TMPD/out" | grep -c '\.png$')"
check "outputs are the right size" eq "size" "128 96" "$(size "$TMPD/out/r10.png")"

done_testing
