#!/usr/bin/env python3
"""No import cycles between the modules of src/ (each file a module): an edge a -> b when a
names b by path (`crate::x::y`, `super::...`, `self::...`) in code outside its unit tests;
a module and its own ancestors are not counted (a parent's re-exports, a child's `super::`).
Prints every cycle with its edges and exits 1 when there is one."""
import pathlib, re, sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src")
mods = {}
for f in root.rglob("*.rs"):
    rel = f.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    mods[tuple(parts)] = f

def strip(src):
    """Code only: raw strings, strings, char literals and comments blanked."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == "r" and re.match(r'r#*"', src[i:i + 8]) and not (i and (src[i - 1].isalnum() or src[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', src[i:]).group(1)
            j = src.find('"' + hashes, i + 2 + len(hashes))
            out.append('""'); i = n if j < 0 else j + 1 + len(hashes)
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('""'); i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^'\\])'", src[i:i + 4]):
            m = re.match(r"'(\\.|[^'\\])'", src[i:i + 4])
            out.append("' '"); i += len(m.group(0))
        else:
            out.append(c); i += 1
    return "".join(out)

def resolve(path):
    """Longest module prefix of path (a tuple)."""
    for n in range(len(path), -1, -1):
        if tuple(path[:n]) in mods:
            return tuple(path[:n])
    return None

edges = {m: set() for m in mods}
for m, f in mods.items():
    src = strip(f.read_text())
    # cut #[cfg(test)] mod tests { … } at the end: test code may name anything
    i = src.find("#[cfg(test)]\nmod tests")
    if i >= 0:
        src = src[:i]
    is_dir_mod = f.name in ("mod.rs", "lib.rs", "main.rs")
    here = list(m) if is_dir_mod else list(m[:-1])  # the directory `super` is relative to
    for use in re.finditer(r"\b(crate|super|self)((?:::\w+)+)", src):
        head, tail = use.group(1), use.group(2).split("::")[1:]
        if head == "crate":
            base = []
        elif head == "self":
            base = list(m)
        else:
            base = here[:-1] if is_dir_mod else here
            while tail and tail[0] == "super":
                base, tail = base[:-1], tail[1:]
        # use a::{b, c}: group braces after the path are in the next chars
        target = resolve(tuple(base + tail))
        rest = src[use.end():use.end() + 400]
        targets = [target]
        if rest.startswith("::{"):
            inner = rest[3:rest.find("}")]
            for name in re.findall(r"\b\w+\b", inner):
                targets.append(resolve(tuple(base + tail + [name])))
        for t in targets:
            if t is not None and t != m:
                edges[m].add(t)
    # Paths through a module brought in by name (`use crate::store;` then `store::fold::…`).
    for alias in re.finditer(r"\buse crate((?:::\w+)+);", src):
        path = alias.group(1).split("::")[1:]
        for use in re.finditer(r"(?<![\w:])" + re.escape(path[-1]) + r"((?:::\w+)+)", src):
            t = resolve(tuple(path + use.group(1).split("::")[1:]))
            if t is not None and t != m:
                edges[m].add(t)

def name(m):
    return "/".join(m) or "crate"

def related(a, b):
    """One is the other's ancestor (a parent's re-exports and its children's `super::`)."""
    return a[:len(b)] == b or b[:len(a)] == a

graph = {a: {b for b in bs if not related(a, b)} for a, bs in edges.items()}
# Tarjan's strongly connected components: every component of more than one module is a cycle.
index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in graph[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1:
            comps.append(comp)
sys.setrecursionlimit(10000)
for v in graph:
    if v not in index:
        visit(v)
for comp in comps:
    names = sorted(name(m) for m in comp)
    print("cycle:", ", ".join(names))
    for a in comp:
        for b in sorted(graph[a] & set(comp)):
            print(f"    {name(a)} -> {name(b)}")
sys.exit(1 if comps else 0)
