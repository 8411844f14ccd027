#!/usr/bin/env python3
"""Fails when a source file of a crate imports another file that (directly or through
others) imports it back.

Usage: .ci/module_cycles.py <crate>/src [<crate>/src ...]

Each `.rs` file is a module (`a/b.rs` and `a/b/mod.rs` are `a::b`). A file depends on the
module of every `crate::…`, `super::…` and `self::…` path it names (the longest prefix
that is a module file) and on every child module it uses by name (`child::item`). A
reference to one's own ancestor (`super::x` from a child file) is not counted: a parent
file declares its children, so that edge is the module tree itself. Comments and
`#[cfg(test)] mod tests { … }` blocks are ignored. Cycles are reported as strongly
connected components with the edges inside them.
"""
import os
import re
import sys
from collections import defaultdict


def module_files(src):
    mods = {}
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            parts = os.path.relpath(path, src)[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts in (["lib"], ["main"]):
                parts = []
            mods[tuple(parts)] = path
    return mods


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S)


def paths(text):
    out = [m.group(1) for m in re.finditer(
        r"\b((?:crate|super|self)(?:::(?:\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*))+)", text)]
    for m in re.finditer(
            r"use\s+((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", text, flags=re.S):
        for item in m.group(2).split(","):
            item = item.strip().split(" as ")[0].strip()
            if item and not item.startswith("{"):
                out.append(m.group(1) + "::" + item.split("::{")[0])
    return out


def resolve(mods, parts):
    for n in range(len(parts), -1, -1):
        if tuple(parts[:n]) in mods:
            return tuple(parts[:n])
    return None


def graph_of(src):
    mods = module_files(src)
    graph = defaultdict(set)
    for mod, path in mods.items():
        text = strip(open(path, encoding="utf-8").read())
        for child in re.findall(r"^\s*(?:pub(?:\([a-z]+\))? )?mod ([a-z_0-9]+);", text, flags=re.M):
            if mod + (child,) in mods and re.search(r"(?<![:\w])" + child + r"::", text):
                graph[mod].add(mod + (child,))
        for p in paths(text):
            parts = p.split("::")
            if parts[0] == "crate":
                base, names = [], parts[1:]
            elif parts[0] == "self":
                base, names = list(mod), parts[1:]
            else:
                base = list(mod)
                while parts and parts[0] == "super":
                    base, parts = base[:-1], parts[1:]
                names = parts
            names = [n for n in names if not n.startswith("{")]
            target = resolve(mods, base + names)
            if target is None or target == mod or target == ():
                continue
            if len(target) < len(mod) and mod[: len(target)] == target:
                continue  # an ancestor
            graph[mod].add(target)
    return mods, graph


def cycles(mods, graph):
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in list(mods):
        if v not in index:
            visit(v)
    return found


def main(srcs):
    failed = False
    for src in srcs:
        mods, graph = graph_of(src)
        found = cycles(mods, graph)
        print(f"{src}: {len(mods)} files, {len(found)} import cycles")
        for component in found:
            failed = True
            names = ["::".join(m) or "(crate root)" for m in component]
            print("  cycle: " + ", ".join(names))
            for a in component:
                for b in sorted(graph[a]):
                    if b in component:
                        print(f"    {'::'.join(a)} -> {'::'.join(b)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
