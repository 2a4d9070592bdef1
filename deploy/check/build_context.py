#!/usr/bin/python3
"""Copies the files `docker build` would send as its context: SOURCE less what
SOURCE/.dockerignore excludes, into DEST. For deploy/check/image-build.sh.

Follows Docker's matching rules for the patterns this project uses: one pattern
a line, '#' comments, a leading '/' and a trailing '/' ignored, '*' and '?'
within one path element, '**' across any number of them, and a path excluded
when it or any directory above it matches. Exceptions ('!') are refused rather
than guessed at.

  build_context.py SOURCE DEST     prints: files, bytes

Stops at 64 MiB: a context that large means .dockerignore lets a build tree in.
A device file, socket or pipe in it is an error too.
"""
import os
import re
import shutil
import stat
import sys

LIMIT = 64 << 20


def pattern_regex(pattern):
    """Docker's pattern syntax as an anchored regular expression."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out.append("(?:.*/)?")
                i += 1
            else:
                out.append(".*")
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i)
            if end < 0:
                raise ValueError(f"unclosed [ in .dockerignore pattern {pattern!r}")
            out.append(pattern[i:end + 1].replace("[!", "[^"))
            i = end + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def load_patterns(path):
    patterns = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("!"):
                raise ValueError(f".dockerignore exception {line!r} is not supported here")
            line = os.path.normpath(line.strip("/"))
            patterns.append(pattern_regex(line))
    return patterns


def main():
    src, dest = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    patterns = load_patterns(os.path.join(src, ".dockerignore"))

    def excluded(rel):
        return any(p.match(rel) for p in patterns)

    files = size = 0
    for dirpath, dirnames, filenames in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src)
        rel_dir = "" if rel_dir == "." else rel_dir
        # An excluded directory is skipped whole, as Docker does; never walk
        # into the destination either.
        dirnames[:] = sorted(d for d in dirnames
                             if not excluded(os.path.join(rel_dir, d))
                             and os.path.join(dirpath, d) != dest)
        for name in sorted(filenames):
            rel = os.path.join(rel_dir, name)
            if excluded(rel):
                continue
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                print(f"build_context: special file in the context: {rel}", file=sys.stderr)
                return 1
            target = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(path, target, follow_symlinks=False)
            files += 1
            size += os.lstat(target).st_size
            if size > LIMIT:
                print(f"build_context: over {LIMIT >> 20} MiB at {rel}: "
                      ".dockerignore lets build output in", file=sys.stderr)
                return 1
    print(f"{files} {size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
