#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Confinement property test for `slidepipe batch` (tests/confine.sh).

For generated cases (fixed seed), every way a manifest value or a
template can name a path -- absolute, '..', '.', '//', symbolic links at
every depth inside --out-dir pointing inside and outside it (to
directories and to a file), a regular file used as a directory, named
arguments (path=), values holding spaces, quotes, '=', '!', line breaks
and {column}s, fixed paths in the template itself, save and tiles --
run a batch without --allow-any-path, then list the whole scratch tree:
nothing outside --out-dir may be created, changed or removed, and a dry
run may change nothing at all. Plain outputs ("d/new/x.png") must land
inside. Exit statuses must be 0, 1 or 2 (never a crash).

usage: confine.py SLIDEPIPE SLIDE SCRATCH [CASES [SECONDS [SEED]]]
Prints "N cases …" on success; on failure the case, what changed, and
how to run it again, and exits 1.
"""
import csv
import hashlib
import io
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import time

slidepipe, slide, scratch = sys.argv[1:4]
cases = int(sys.argv[4]) if len(sys.argv) > 4 else 300
seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 60
seed = int(sys.argv[6]) if len(sys.argv) > 6 else 12
rng = random.Random(seed)


def snapshot(root, skip=None):
    """Every entry under root (not under skip): type, and content or
    link target."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if skip and (dirpath == skip or dirpath.startswith(skip + os.sep)):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if os.path.islink(full):
                snap[full] = ("link", os.readlink(full))
            elif os.path.isdir(full):
                snap[full] = ("dir", st.st_mode & 0o7777)
            else:
                with open(full, "rb") as f:
                    snap[full] = ("file", hashlib.sha1(f.read()).hexdigest())
    return snap


def setup(case_dir):
    outside = os.path.join(case_dir, "outside")
    out = os.path.join(case_dir, "out")
    os.makedirs(os.path.join(outside, "dir"))
    os.makedirs(os.path.join(case_dir, "cwd"))
    os.makedirs(os.path.join(out, "d", "e"))
    with open(os.path.join(outside, "target.png"), "wb") as f:
        f.write(b"not to be touched")
    with open(os.path.join(out, "f"), "wb") as f:
        f.write(b"a file")
    os.symlink("../outside", os.path.join(out, "l1"))
    os.symlink("../../outside", os.path.join(out, "d", "l2"))
    os.symlink(outside, os.path.join(out, "d", "e", "l3"))
    os.symlink("../outside/target.png", os.path.join(out, "lf"))
    os.symlink("../outside/target.png", os.path.join(out, "d", "lf.png"))
    os.symlink("d", os.path.join(out, "ld"))
    os.symlink("../..", os.path.join(out, "d", "up"))
    return outside, out


PIECES = ["..", ".", "", "l1", "d", "e", "l2", "l3", "lf", "ld", "up", "f",
          "outside", "x.png", "y.tif", "new", "sub", "a b.png", "!x.png", "!",
          "path=..", "'", '"', "{out}", "=", "\n", "\\", "lf.png", "dir",
          "target.png", "..."]
PLAIN_DIRS = ["d", "e", "new", "sub"]


def gen_path(case_dir):
    n = rng.randint(1, 5)
    parts = [rng.choice(PIECES) for _ in range(n)]
    sep = rng.choice(["/", "/", "/", "//", "/./"])
    p = sep.join(parts)
    r = rng.random()
    if r < 0.12:
        p = os.path.join(case_dir, rng.choice(["outside", "out", "cwd"]), p)
    elif r < 0.18:
        p = "./" + p
    elif r < 0.24:
        p = "../" + p
    if rng.random() < 0.6:
        p += rng.choice([".png", ".tif", ".jpg", "/x.png"])
    return p


def gen_plain():
    """A path that must work: plain directories, a new file."""
    parts = [rng.choice(PLAIN_DIRS) for _ in range(rng.randint(0, 3))]
    name = "p%d%s" % (rng.randint(0, 10 ** 6), rng.choice([".png", ".tif"]))
    sep = rng.choice(["/", "/", "//", "/./"])
    p = sep.join(parts + [name])
    if rng.random() < 0.2:
        p = "./" + p
    if rng.random() < 0.2 and parts:
        p = "zz/../" + p
    return p


def gen_value(case_dir):
    p = gen_path(case_dir)
    q = gen_path(case_dir)
    return rng.choice([
        p, p, "x.png path=" + q, "x.png ! save " + q, p + " level=0",
        "'" + p + "'", '"' + p + '"', p + "!", "!" + p, "path=" + p,
        p + "\n" + q, "{v}", "{out}" + p, "x.png' path='" + q,
    ])


def template(case_dir):
    fixed = shlex.quote(gen_path(case_dir))
    return rng.choice([
        None, None,
        "load {slide} ! crop 0 0 8 8 ! save {out}",
        "load {slide} ! crop 0 0 8 8 ! save {v}",
        "load {slide} ! crop 0 0 8 8 ! save \"{v}\"",
        "load {slide} ! crop 0 0 8 8 ! save 'x{v}.png'",
        "load {slide} ! crop 0 0 8 8 ! save {out} {v}",
        "load {slide} ! crop 0 0 8 8 ! save path={v}",
        "load {slide} ! crop 0 0 8 8 ! save {v}/{out}",
        "load {slide} ! crop 0 0 8 8 ! save {v}{out}",
        "load {slide} ! crop 0 0 16 16 ! tiles {v} size=8",
        "load {slide} ! crop 0 0 16 16 ! tiles {out} size=8 prefix={v}",
        "load {slide} ! crop 0 0 8 8 ! save " + fixed,
        "load {slide} ! crop 0 0 8 8 ! save {out} path=" + fixed,
        "load {slide} ! crop 0 0 16 16 ! tiles " + fixed + " size=8",
        "load {slide} ! crop 0 0 8 8 !{v}",
        "load {slide} ! crop 0 0 8 8 ! save {out}!{v}",
    ])


def norm(p):
    parts = []
    for c in p.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if parts:
                parts.pop()
            continue
        parts.append(c)
    return "/".join(parts)


start = time.monotonic()
done = outputs_checked = 0
os.makedirs(scratch, exist_ok=True)
for case in range(cases):
    if time.monotonic() - start > seconds:
        break
    case_dir = os.path.join(scratch, "c%d" % case)
    outside, out = setup(case_dir)
    cwd = os.path.join(case_dir, "cwd")
    tpl = template(case_dir)
    dry = rng.random() < 0.15
    rows, expect = [], []
    for r in range(8):
        if rng.random() < 0.35:
            o = gen_plain()
        else:
            o = gen_path(case_dir)
        rows.append([slide, "0", "0", "8", "8", o, gen_value(case_dir)])
    seen = set()
    for row in rows:
        o = row[5]
        n = norm(o)
        plain = (not o.startswith("/") and "\n" not in o and
                 all(c in PLAIN_DIRS for c in n.split("/")[:-1]) and
                 re.fullmatch(r"p[0-9]+\.(png|tif)", n.split("/")[-1]) and
                 not o.startswith("../"))
        if plain and n not in seen and tpl in (
                None, "load {slide} ! crop 0 0 8 8 ! save {out}"):
            expect.append(n)
        seen.add(n)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["slide", "x", "y", "w", "h", "out", "v"])
    w.writerows(rows)
    manifest = os.path.join(cwd, "m.csv")
    with open(manifest, "w") as f:
        f.write(buf.getvalue())
    argv = [slidepipe, "batch", "m.csv", "--out-dir", out, "-j",
            str(rng.choice([1, 2])), "--no-progress"]
    if tpl:
        argv += ["--pipeline", tpl]
    if dry:
        argv.append("--dry-run")
    before = snapshot(case_dir, None if dry else out)
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                           errors="replace", timeout=60)
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        rc, err = "timeout", ""
    after = snapshot(case_dir, None if dry else out)
    problems = []
    if rc not in (0, 1, 2):
        problems.append("exit status %s" % rc)
    for k in sorted(set(before) | set(after)):
        if before.get(k) != after.get(k):
            problems.append("%s: %s -> %s" % (
                os.path.relpath(k, case_dir), before.get(k), after.get(k)))
    if not dry:
        for n in expect:
            if not os.path.isfile(os.path.join(out, n)) or \
                    os.path.islink(os.path.join(out, n)):
                problems.append("plain output %r not written inside" % n)
            outputs_checked += 1
    if problems:
        print("confine: case %d (seed %d) FAILED" % (case, seed))
        print("  command: %s" % " ".join(shlex.quote(a) for a in argv))
        print("  manifest:\n    " + buf.getvalue().replace("\n", "\n    "))
        for pr in problems[:20]:
            print("  " + pr)
        print("  stderr:\n    " + err.replace("\n", "\n    ")[:3000])
        print("  rerun: tests/confine.py SLIDEPIPE SLIDE SCRATCH %d %d %d"
              % (case + 1, 10 ** 6, seed))
        sys.exit(1)
    shutil.rmtree(case_dir)
    done += 1

print("%d cases (seed %d, %.0f s), %d plain outputs found inside, "
      "nothing created outside --out-dir" % (
          done, seed, time.monotonic() - start, outputs_checked))
