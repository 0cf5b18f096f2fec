#!/usr/bin/env python3
"""The structural figures of the middle-layer redesign (issue 17), read off
the source as text: `python3 bench/shape.py [REPO]`. Production code is every
`src/` file of the workspace except test modules (`tests.rs`, `*_tests.rs`,
and anything after a `#[cfg(test)]` line).

It prints one line per figure; run it before and after a change to compare.
"""

import os
import re
import sys
from collections import defaultdict

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
CRATES = os.path.join(ROOT, "crates")


def production_files():
    for crate in sorted(os.listdir(CRATES)):
        src = os.path.join(CRATES, crate, "src")
        for dirpath, _, names in os.walk(src):
            for name in sorted(names):
                if not name.endswith(".rs") or name == "tests.rs" or name.endswith("_tests.rs"):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    lines = f.read().split("\n")
                for i, line in enumerate(lines):
                    if line.strip() == "#[cfg(test)]":
                        lines = lines[:i]
                        break
                yield os.path.relpath(path, ROOT), crate, lines


FN = re.compile(r"^(\s*)(pub(\([^)]*\))? )?(async )?fn (\w+)")


def functions(lines):
    """(name, first line index, length, signature text) of each fn with a body."""
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        indent = m.group(1)
        signature = []
        for j in range(i, len(lines)):
            signature.append(lines[j])
            if lines[j].rstrip().endswith(";") and "{" not in lines[j]:
                break  # a declaration without a body
            if lines[j].rstrip().endswith("{") or lines[j].rstrip().endswith("}"):
                break
        else:
            continue
        if signature[-1].rstrip().endswith(";"):
            continue
        if signature[-1].rstrip().endswith("}"):
            yield m.group(5), i, len(signature), "".join(signature)
            continue
        for k in range(i + len(signature), len(lines)):
            if lines[k] == indent + "}":
                yield m.group(5), i, k - i + 1, "".join(signature)
                break


def strongly_connected(graph):
    """Tarjan's strongly connected components of `graph` (node -> set of nodes)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            found.append(component)

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def main():
    over_600 = []
    long_fns = []
    handlers = []
    allowances = 0
    cli_indexing = 0
    store_calls = 0
    store_files = set()
    esc_calls = 0
    string_errors = 0
    id_strings = 0
    imports = defaultdict(set)
    for path, crate, lines in production_files():
        text = "\n".join(lines)
        if len(lines) > 600:
            over_600.append((len(lines), path))
        allowances += text.count("too_many_arguments")
        if crate == "signet-cli":
            cli_indexing += len(re.findall(r'\[\s*"[A-Za-z_]+"\s*\]', text))
        if crate == "signet-server":
            n = len(re.findall(r"\bstate\.store\.", text))
            store_calls += n
            if n:
                store_files.add(path)
            esc_calls += len(re.findall(r"\besc\(", text))
            rel = os.path.relpath(path, os.path.join("crates", "signet-server", "src"))
            module = rel.split(os.sep)[0].removesuffix(".rs")
            code = "\n".join(line.split("//")[0] for line in lines)
            for other in re.findall(r"\bcrate::(\w+)", code):
                if other != module:
                    imports[module].add(other)
        string_errors += len(re.findall(r"Result<[^;{]*,\s*String>", text))
        id_strings += len(re.findall(r"\b\w*_id: String\b", text))
        for name, start, length, signature in functions(lines):
            if length > 80:
                long_fns.append((length, f"{path}:{start + 1} {name}"))
            if crate == "signet-server" and re.search(r"\bState\(|State<AppState>", signature) and "async fn" in signature:
                if length > 30:
                    handlers.append((length, f"{path}:{start + 1} {name}"))
    mutual = sorted({tuple(sorted((a, b))) for a, bs in imports.items() for b in bs if a in imports.get(b, ())})
    print(f"production files over 600 lines: {len(over_600)}")
    for n, p in sorted(over_600, reverse=True):
        print(f"  {n} {p}")
    print(f"handlers over 30 lines: {len(handlers)}")
    for n, p in sorted(handlers, reverse=True):
        print(f"  {n} {p}")
    print(f"production functions over 80 lines: {len(long_fns)}")
    for n, p in sorted(long_fns, reverse=True):
        print(f"  {n} {p}")
    print(f"too_many_arguments allowances: {allowances}")
    print(f"server modules importing each other: {len(mutual)}")
    for a, b in mutual:
        print(f"  {a} <-> {b}")
    circles = [c for c in strongly_connected(imports) if len(c) > 1]
    print(f"server module circles of any length: {len(circles)}")
    for c in circles:
        print("  " + " -> ".join(sorted(c)))
    print(f"JSON indexing by string in CLI source: {cli_indexing}")
    print(f"state.store.* calls in the server: {store_calls} from {len(store_files)} files")
    print(f"hand-written esc() calls in the server: {esc_calls}")
    print(f"functions returning Result<_, String>: {string_errors}")
    print(f"`*_id: String` fields and parameters: {id_strings}")


if __name__ == "__main__":
    main()
