#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks that slidepipe's files depend on each other one way.

usage: tests/layers.py TOP_SRCDIR TOP_BUILDDIR

Reads what the build compiled (the object lists of the library and the
command-line tool in TOP_BUILDDIR/Makefile), and from the objects (nm) and
the sources (#include lines) it checks:

  1. every file belongs to a layer of LAYERS below, and a file calls only
     functions of files of its own layer or of layers below it;
  2. no cycle of calls between files, even inside one layer (a pointer to
     data, like the operator table's pointers to each operator's SpOpInfo,
     is not a call: that is how operators register);
  3. no cycle of #include "…" between headers;
  4. no library file writes to stdout or stderr (the standard streams, the
     print functions, or file descriptors 1 and 2): only the CLI does.

Prints one line per problem and exits 1 when there is any, 0 otherwise;
77 (skip) when the tree has not been built.
"""
import fnmatch
import os
import re
import subprocess
import sys

# Lowest first. A file may use files of its own layer and of the layers
# before it, never those after it. HACKING.md draws the same picture.
LAYERS = [
    ("util", ["src/util.c", "src/compat.c", "src/csv.c", "src/label.c"]),
    ("TIFF and slide I/O", ["src/aperio.c", "src/icc.c", "src/tiffread.c", "src/stripread.c",
                            "src/slide.c", "src/planes.c", "src/slidecache.c",
                            "src/annotations.c", "src/dicom.c"]),
    ("graph and planner", ["src/op.c", "src/graph.c", "src/plan.c",
                           "src/pipeline.c"]),
    ("writers", ["src/writer/*.c"]),
    ("operators", ["ops/*.c"]),
    ("batch", ["src/batch.c"]),
    ("CLI", ["tools/*.c"]),
]
CLI_LAYERS = {"CLI"}

# What writing to the standard streams looks like in an object file.
STDIO_SYMBOLS = {
    "stdout", "stderr", "printf", "vprintf", "puts", "putchar", "perror",
    "g_print", "g_printerr", "psignal", "psiginfo", "vips_error_exit",
    "__printf_chk", "__vprintf_chk",
}
# ... and in a source file.
STDIO_SOURCE = re.compile(
    r"\b(STDOUT_FILENO|STDERR_FILENO|fileno\s*\(\s*std(out|err)\s*\))"
    r"|\bwrite\s*\(\s*[12]\s*,|\bdprintf\s*\(\s*[12]\s*,")


def layer_of(path):
    for i, (_name, pats) in enumerate(LAYERS):
        if any(fnmatch.fnmatch(path, p) for p in pats):
            return i
    return None


def make_var(makefile, name, depth=0):
    """The value of NAME = … in a generated Makefile (continuations joined),
    its $(VAR) references expanded (automake's am__objects_N)."""
    text = open(makefile).read().replace("\\\n", " ")
    m = re.search(r"^%s\s*=(.*)$" % re.escape(name), text, re.M)
    if not m:
        return []
    out = []
    for word in m.group(1).split():
        ref = re.fullmatch(r"\$\(([A-Za-z0-9_]+)\)", word)
        if ref and depth < 8:
            out += make_var(makefile, ref.group(1), depth + 1)
        else:
            out.append(word)
    return out


def canon(name):
    return re.sub(r"[^A-Za-z0-9_@]", "_", name)


def objects(builddir):
    """{source path relative to the tree: object file} of the library and
    the programs installed in bin."""
    mk = os.path.join(builddir, "Makefile")
    targets = [canon(t) for t in make_var(mk, "lib_LTLIBRARIES")]
    targets += [canon(t) for t in make_var(mk, "bin_PROGRAMS")]
    out = {}
    for t in targets:
        for obj in make_var(mk, "am_%s_OBJECTS" % t):
            obj = obj.replace("$(OBJEXT)", "o")
            d, base = os.path.split(obj)
            stem = base.rsplit(".", 1)[0]
            # automake names a per-target object TARGET-STEM, TARGET
            # with or without its directory
            if "-" in stem and t.endswith(stem.split("-", 1)[0]):
                stem = stem.split("-", 1)[1]
            if obj.endswith(".lo"):
                o = os.path.join(builddir, d, ".libs", base[:-3] + ".o")
                if not os.path.exists(o):
                    o = os.path.join(builddir, obj[:-3] + ".o")
            else:
                o = os.path.join(builddir, obj)
            out[os.path.join(d, stem + ".c")] = o
    return out


def nm(obj):
    p = subprocess.run(["nm", "-P", obj], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode != 0:
        raise SystemExit("layers: nm %s: %s" % (obj, p.stderr.strip()))
    defined, used = set(), set()
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        sym, kind = f[0], f[1]
        if kind == "U":
            used.add(sym)
        elif kind in "TWi":
            # functions only: a table of declarations that points at an
            # operator's SpOpInfo (data) is how the operators register,
            # as OpenSlide's format table points at each vendor's ops
            defined.add(sym)
    return defined, used


def cycles(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def one_cycle(graph, comp):
    """A readable path round one component: a -> b -> … -> a."""
    comp = set(comp)
    start = min(comp)
    path, seen = [start], {start}
    v = start
    while True:
        nxt = sorted(w for w in graph[v] if w in comp)
        back = [w for w in nxt if w == start]
        if back and len(path) > 1:
            return path + [start]
        fresh = [w for w in nxt if w not in seen]
        if not fresh:
            return path + [nxt[0]]
        v = fresh[0]
        seen.add(v)
        path.append(v)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, build = sys.argv[1], sys.argv[2]
    if not os.path.exists(os.path.join(build, "Makefile")):
        print("layers: %s is not a configured tree" % build)
        sys.exit(77)
    objs = objects(build)
    if not objs:
        print("layers: no object lists in %s/Makefile" % build)
        sys.exit(1)
    problems = []
    defs, uses = {}, {}
    for f, o in sorted(objs.items()):
        if not os.path.exists(o):
            # a source that is not a C file (an unexpanded variable) is
            # a parsing failure here, not a reason to skip the check
            print("layers: %s is not built (%s)" % (f, o))
            sys.exit(77 if os.path.exists(os.path.join(src, f)) else 1)
        defs[f], uses[f] = nm(o)
    owner = {}
    for f, ds in defs.items():
        for s in ds:
            owner.setdefault(s, f)
    graph = {f: set() for f in objs}
    why = {}
    for f, us in uses.items():
        for s in us:
            g = owner.get(s)
            if g and g != f:
                graph[f].add(g)
                why.setdefault((f, g), s)
    # 1. layers
    for f in sorted(objs):
        if layer_of(f) is None:
            problems.append("%s: in no layer (add it to LAYERS in tests/layers.py"
                            " and to HACKING.md)" % f)
    for f in sorted(graph):
        lf = layer_of(f)
        for g in sorted(graph[f]):
            lg = layer_of(g)
            if lf is not None and lg is not None and lg > lf:
                problems.append("%s (%s) calls %s (%s), a layer above it: %s" % (
                    f, LAYERS[lf][0], g, LAYERS[lg][0], why[(f, g)]))
    # 2. use cycles
    for comp in cycles(graph):
        path = one_cycle(graph, comp)
        steps = ["%s -[%s]-> %s" % (a, why[(a, b)], b) for a, b in zip(path, path[1:])]
        problems.append("cycle of calls: " + "; ".join(steps))
    # 3. include cycles between the tree's headers
    inc = {}
    for d in ("src", "ops", "tools", "include"):
        for root, _dirs, files in os.walk(os.path.join(src, d)):
            for name in files:
                if not name.endswith((".c", ".h")):
                    continue
                p = os.path.join(root, name)
                rel = os.path.relpath(p, src)
                inc[rel] = set()
                for m in re.finditer(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]',
                                     open(p, errors="replace").read(), re.M):
                    name2 = m.group(1)
                    for cand in (os.path.join(os.path.dirname(rel), name2),
                                 os.path.join("src", name2),
                                 os.path.join("include", name2)):
                        if os.path.exists(os.path.join(src, cand)):
                            inc[rel].add(os.path.normpath(cand))
                            break
    for comp in cycles(inc):
        problems.append("cycle of #includes: " + " -> ".join(one_cycle(inc, comp)))
    # 4. standard streams
    for f in sorted(objs):
        lf = layer_of(f)
        if lf is not None and LAYERS[lf][0] in CLI_LAYERS:
            continue
        bad = sorted(uses[f] & STDIO_SYMBOLS)
        if bad:
            problems.append("%s writes to the standard streams: %s" % (f, ", ".join(bad)))
        text = open(os.path.join(src, f), errors="replace").read()
        for m in STDIO_SOURCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            problems.append("%s:%d writes to the standard streams: %s" % (f, line, m.group(0)))
    for p in problems:
        print(p)
    print("layers: %d files, %d calls between files, %d problem(s)" % (
        len(objs), sum(len(v) for v in graph.values()), len(problems)))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
