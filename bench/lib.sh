# SPDX-License-Identifier: LGPL-2.1-or-later
# What the benchmark scripts share; sourced by them (. "$top/bench/lib.sh").

# median: the median of the numbers on standard input, one a line
# (nothing for none)
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# ratio A B: A / B to 3 decimals, or "n/a" when either is missing or B is 0
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.3f", a / b}'; }
