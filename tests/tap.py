# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the Python checks of tests/ share: one line per check ("ok N -
NAME" or "not ok N - NAME", "# ..." diagnostics), which tests/lib.sh's
relay_tap passes on as the shell test's own TAP lines; the check()
runner; running a command with a time limit.

A check is a function that raises Fail (or anything: a crash of the
check is its failure) when what it checks is not so.
"""
import subprocess
import sys

TIMEOUT = 120   # seconds per command: more is a hang

_n = [0]


def out(line):
    # the shell's echo reads backslashes (DICOM's value separator): they
    # are written as /
    print(line.replace("\\", "/"))


def say(ok, name, why=None, lines=14):
    """One check's outcome; WHY's first LINES lines as diagnostics."""
    _n[0] += 1
    out("%s %d - %s" % ("ok" if ok else "not ok", _n[0], name))
    if not ok and why:
        for line in str(why).splitlines()[:lines]:
            out("# " + line)
    sys.stdout.flush()
    return ok


def skip(name, reason):
    _n[0] += 1
    out("ok %d - %s # SKIP %s" % (_n[0], name, reason))
    sys.stdout.flush()


def diag(text):
    for line in str(text).splitlines():
        out("# " + line)
    sys.stdout.flush()


class Fail(Exception):
    pass


def need(cond, why):
    if not cond:
        raise Fail(why)


def run(cmd, timeout=TIMEOUT):
    """(exit status, stdout, stderr) of CMD (its items made strings);
    124 and a message when it runs longer than TIMEOUT seconds."""
    try:
        p = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "", "timed out after %d s: %s" % (timeout, " ".join(map(str, cmd)))
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


def check(name, fn):
    """say() the outcome of fn(): ok unless it raises Fail or anything."""
    try:
        fn()
    except Fail as e:
        return say(False, name, e)
    except Exception as e:  # a crash of the check is a failure of it
        return say(False, name, "%s: %s" % (type(e).__name__, e))
    return say(True, name)
