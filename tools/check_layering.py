#!/usr/bin/env python3
"""Layering check: every `#include "..."` inside include/recblocks/ must respect the folder table of
docs/architecture.md ("Layers"), and every umbrella header must include its whole folder.

The table's rows are read from the doc itself, so the doc and the check cannot disagree:

    | `nn/` | what it holds | `core/`, `nn/` |

(first column: the folder; last column: the folders its headers may include). Rules:
  * a header may include headers of its own folder and of the folders its row lists;
  * another folder's `detail/` is private: including it is a violation even when the folder is allowed;
  * `version.hpp` (a root file) may be included from anywhere;
  * an umbrella header `include/recblocks/<folder>.hpp` must include every public header of <folder>
    (all of `<folder>/**/*.hpp` outside `detail/`), and `recblocks.hpp` / `all.hpp` are exempt.
Exit status 1 and one line per violation when anything is wrong. No dependencies beyond Python 3.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INC = os.path.join(ROOT, "include", "recblocks")
DOC = os.path.join(ROOT, "docs", "architecture.md")


def read_table():
    allowed = {}
    in_layers = False
    with open(DOC, encoding="utf-8") as f:
        for line in f:
            if line.startswith("## "):
                in_layers = line.startswith("## Layers")
                continue
            if not in_layers or not line.startswith("|"):
                continue
            cols = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cols) < 3:
                continue
            folders = re.findall(r"`([a-z_]+)/`", cols[0])
            deps = re.findall(r"`([a-z_]+)/`", cols[-1])
            for folder in folders:
                allowed[folder] = set(deps) | {folder}
    if not allowed:
        sys.exit(f"check_layering: no layer table found in {DOC}")
    return allowed


def main():
    allowed = read_table()
    errors = []
    include_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
    for dirpath, _, files in os.walk(INC):
        for name in sorted(files):
            if not name.endswith(".hpp"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, INC)
            parts = rel.split(os.sep)
            if len(parts) == 1:
                continue  # umbrella and root headers: checked below
            folder = parts[0]
            if folder not in allowed:
                errors.append(f"{rel}: folder '{folder}/' is not in the layer table of docs/architecture.md")
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for inc in include_re.findall(text):
                target = os.path.normpath(os.path.join(os.path.dirname(rel), inc))
                tparts = target.split(os.sep)
                if tparts[0] == "..":
                    errors.append(f"{rel}: includes '{inc}' outside include/recblocks")
                    continue
                if len(tparts) == 1:
                    if tparts[0] != "version.hpp":
                        errors.append(f"{rel}: includes the umbrella header '{inc}'")
                    continue
                tfolder = tparts[0]
                if tfolder not in allowed[folder]:
                    errors.append(f"{rel}: includes '{target}' but '{folder}/' may include only "
                                  + ", ".join(sorted(d + "/" for d in allowed[folder])))
                elif tfolder != folder and "detail" in tparts[1:-1]:
                    errors.append(f"{rel}: includes '{target}', a private detail header of '{tfolder}/'")
    # umbrella headers include their whole folder
    for folder in sorted(allowed):
        umbrella = os.path.join(INC, folder + ".hpp")
        if not os.path.isfile(umbrella):
            errors.append(f"{folder}.hpp: the umbrella header of '{folder}/' is missing")
            continue
        included, todo = set(), [folder + ".hpp"]
        while todo:  # every header reachable from the umbrella (a folder may have sub-umbrellas)
            cur = todo.pop()
            with open(os.path.join(INC, cur), encoding="utf-8") as f:
                for inc in include_re.findall(f.read()):
                    target = os.path.normpath(os.path.join(os.path.dirname(cur), inc))
                    if target not in included and os.path.isfile(os.path.join(INC, target)):
                        included.add(target)
                        todo.append(target)
        for dirpath, _, files in os.walk(os.path.join(INC, folder)):
            for name in files:
                rel = os.path.relpath(os.path.join(dirpath, name), INC)
                if name.endswith(".hpp") and "detail" not in rel.split(os.sep) and rel not in included:
                    errors.append(f"{folder}.hpp: does not include '{rel}'")
    for e in errors:
        print("layering: " + e)
    if errors:
        print(f"check_layering: {len(errors)} violation(s) of the table in docs/architecture.md")
        return 1
    print("check_layering: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
