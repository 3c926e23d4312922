"""`checks drift`: compare the kit's recipes with the command blocks of the tutorial README at some
Model-Optimizer ref, and check in a Model-Optimizer / Megatron-Bridge checkout that the scripts they call
exist and accept every flag they pass (`flags`, reading argparse definitions with `ast`: `argparse_spec`).

Blocks are matched by what they run (torchrun + script, python + script, `vllm bench`, the launcher,
DATA_BLEND=); a match with other text is CHANGED, a recipe without a block REMOVED, a block without a
recipe ADDED. Runs of blanks are not a difference (the README indents and aligns)."""

from __future__ import annotations

import ast
import difflib
import json
import re
import shlex
from pathlib import Path

from checks.findings import ADDED, CHANGED, ERROR, MISSING, REMOVED, SAME, SKIP, Finding

_FENCE = re.compile(r"^\s*```[^\n]*\n(.*?)^\s*```", re.S | re.M)
_PATH = re.compile(r"(/opt/(?:Model-Optimizer|Megatron-Bridge)/[\w./-]+)")


def finding(item: str, status, detail: str = "") -> Finding:
    """A drift finding: `item` is "recipe: command signature" (or a script path), `detail` the difference."""
    step, _, what = item.partition(": ") if ": " in item else ("scripts", "", item)
    return Finding(step, what, status, note=detail)


def blocks(markdown: str) -> list[str]:
    """Fenced code blocks, each split into commands (a line plus its backslash continuations)."""
    out = []
    for body in _FENCE.findall(markdown):
        lines = [l.strip() for l in body.strip("\n").split("\n")]
        text = "\n".join(lines)
        if text.startswith("DATA_BLEND="):
            out.append(text)
            continue
        cmd: list[str] = []
        for line in lines:
            if not cmd and (not line or line.startswith("#")):
                continue
            cmd.append(line)
            if not line.endswith("\\"):
                out.append("\n".join(cmd))
                cmd = []
        if cmd:
            out.append("\n".join(cmd))
    return out


def signature(command: str) -> str | None:
    first = command.split("\n", 1)[0]
    if first.startswith("DATA_BLEND="):
        return "DATA_BLEND"
    words = first.split()
    if not words:
        return None
    if words[0] in ("torchrun", "python", "python3"):
        script = next((w for w in words[1:] if w.endswith(".py")), None)
        return f"{words[0]} {Path(script).parent.name}/{Path(script).name}" if script else None
    if words[:3] == ["vllm", "bench", "throughput"]:
        return "vllm bench throughput"
    if words[0] == "nemo-evaluator-launcher":
        return " ".join(words[:2])
    return None


def _script_dir(sig: str) -> str:
    return sig.rsplit("/", 1)[0] if "/" in sig else sig


def compare(recipes: dict[str, str], markdown: str) -> list[Finding]:
    """recipes: name -> the recipe's command in the tutorial's own words (placeholders put back)."""
    readme = {}
    for b in blocks(markdown):
        sig = signature(b)
        if sig:
            readme.setdefault(sig, b)
    out, used = [], set()
    for name, text in recipes.items():
        cmds = [c for c in blocks(f"```\n{text}\n```") if signature(c)]
        for cmd in cmds:
            sig = signature(cmd)
            match = sig if sig in readme else next(
                (s for s in readme if s not in used and _script_dir(s) == _script_dir(sig) and s.split()[0] == sig.split()[0]), None)
            if match is None:
                out.append(finding(f"{name}: {sig}", REMOVED, "no such command in the README any more"))
                continue
            used.add(match)
            # The shell splits words on any run of blanks: README alignment is no difference.
            norm = lambda t: [" ".join(l.split()) for l in t.split("\n")]  # noqa: E731
            if norm(readme[match]) == norm(cmd):
                out.append(finding(f"{name}: {sig}", SAME))
            else:
                d = "\n".join(difflib.unified_diff(norm(cmd), norm(readme[match]), "recipe", "README", lineterm="", n=0))
                out.append(finding(f"{name}: {sig}", CHANGED, d))
    for sig, b in readme.items():
        if sig not in used and not any(d.id == sig for d in out):
            out.append(finding(f"README: {sig}", ADDED, b.split("\n", 1)[0]))
    return out


def missing_paths(commands: list[str], modelopt_root: Path | None, bridge_root: Path | None) -> list[Finding]:
    """Script paths the commands call that do not exist under the given checkouts."""
    out = []
    roots = {"/opt/Model-Optimizer": modelopt_root, "/opt/Megatron-Bridge": bridge_root}
    for p in sorted({m for c in commands for m in _PATH.findall(c)}):
        for prefix, root in roots.items():
            if root is not None and p.startswith(prefix + "/"):
                local = Path(root) / p[len(prefix) + 1:]
                if not local.exists():
                    out.append(finding(p, MISSING, f"not at {local}"))
    return out



# --- Flags: does every script a recipe calls exist at the ref and accept every flag it passes? -----------
#
# Read statically: the scripts' argparse definitions are parsed as text with `ast`, never imported (they
# import torch, Megatron, ModelOpt). The checker decides as argparse would: exact option strings, or an
# unambiguous prefix of one unless the parser sets allow_abbrev=False; no normalisation of "_" and "-";
# a sub-command's options belong to its own parser.

UPSTREAM = {"/opt/Model-Optimizer/": "modelopt", "${MODELOPT_DIR}/": "modelopt", "/opt/Megatron-Bridge/": "bridge"}
_NAMES = {"modelopt": "Model-Optimizer", "bridge": "Megatron-Bridge"}
_ROOT_FLAG = {"modelopt": "--modelopt-root", "bridge": "--bridge-root"}
_LAUNCHER = re.compile(r"^(?:.*/)?(?:python(?:3(?:\.\d+)?)?|torchrun)$")
_NEGATIVE = re.compile(r"^-\d+$|^-\d*\.\d+$")  # argparse's own rule: such a word is a value, not an option
_NO_VALUE = {"store_true", "store_false", "store_const", "append_const", "count", "help", "version"}
_SEPARATORS = {";", "&&", "||", "|", "&"}
_SKIP_DIRS = {".git", "__pycache__", "node_modules", ".venv"}


def argparse_spec(source: str, filename: str) -> dict:
    """The options a script's argparse definitions declare, read with `ast` (the script is never imported).

    `source` is a module, or an indented extract of one (a function body). Returns
    {"filename", "parsers": {path: parser}}: path "" is the script's own parser, "export" a sub-command's
    ("a b" when nested); parser = {"line", "allow_abbrev", "options": {option string: arg}, "positionals",
    "subcommands", "required_groups": [[option string]], "dynamic": [line]}; arg = {"flags", "dest",
    "default", "literal", "default_line", "action", "nargs", "choices", "choices_literal", "required",
    "takes_value", "positional", "line"}. `default` is the value when `literal`, else the expression's source
    text; argparse's implicit defaults are filled in (store_true False, store_false True, else None).
    `line` is where the first option string is written and `default_line` where the default is, both lines
    of `source`. Parsers are followed through variables, argument groups, sub-parsers (add_parser),
    `parents=`, `set_defaults` and the helper functions they are passed to; an add_argument on something the
    reader cannot resolve counts for the script's own parser. `dynamic` lists add_argument calls whose
    option names are computed (the spec may then be incomplete)."""
    return _SpecReader(source, filename).read()


def _literal(node: ast.AST) -> tuple[object, bool]:
    try:
        return ast.literal_eval(node), True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None, False


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


class _SpecReader:
    """Walks the statements in order, tracking which variables hold a parser, a sub-parsers action or an
    argument group (values: ("parser", id), ("subs", parser id), ("group", parser id, required-group id))."""

    def __init__(self, source: str, filename: str):
        self.filename, self.shift = filename, 0
        try:
            self.source = source
            self.tree = ast.parse(source, filename)
        except SyntaxError as first:
            # An indented extract: parse it as the body of an `if`, which keeps every line where it was.
            self.source, self.shift = "if True:\n" + source, 1
            try:
                self.tree = ast.parse(self.source, filename)
            except SyntaxError:
                raise first from None
        self.parsers: dict[str, dict] = {}
        self.functions = {n.name: n for n in ast.walk(self.tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        self.called = {n.func.id for n in ast.walk(self.tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        self.walked: set = set()  # (function, binding) pairs already walked

    def read(self) -> dict:
        self._block(self.tree.body, {})
        for name, fn in self.functions.items():
            if name not in self.called:  # an entry point (get_args, build_parser...): nothing is bound to its parameters
                self._block(fn.body, {})
        return self._finish()

    def _line(self, node: ast.AST) -> int:
        return node.lineno - self.shift

    def _text(self, node: ast.AST) -> str:
        return " ".join((ast.get_source_segment(self.source, node) or ast.unparse(node)).split())

    def _parser(self, pid: str, node: ast.Call, env: dict) -> str:
        p = self.parsers.setdefault(pid, {"line": self._line(node), "allow_abbrev": True, "args": [], "subs": {},
                                          "defaults": {}, "parents": [], "groups": {}, "dynamic": []})
        for k in node.keywords:
            if k.arg == "allow_abbrev" and _literal(k.value) == (False, True):
                p["allow_abbrev"] = False
            if k.arg == "parents" and isinstance(k.value, (ast.List, ast.Tuple)):
                p["parents"] += [v[1] for e in k.value.elts for v in self._eval(e, env) if v[0] == "parser" and v[1] != pid]
        return pid

    def _eval(self, node: ast.AST, env: dict) -> set:
        """What an expression holds, among the things tracked (an empty set: something else)."""
        if isinstance(node, ast.Name):
            return set(env.get(node.id, ()))
        if isinstance(node, (ast.Tuple, ast.List)):
            return set().union(*(self._eval(e, env) for e in node.elts))
        if not isinstance(node, ast.Call):
            return set()
        name = _call_name(node)
        if name.endswith("ArgumentParser"):  # one parser per call site, however often the walk reaches it
            return {("parser", self._parser(f"<root@{self._line(node)}>", node, env))}
        if not isinstance(node.func, ast.Attribute):
            return set()
        owner = self._eval(node.func.value, env)
        if name == "add_subparsers":
            return {("subs", o[1]) for o in owner if o[0] == "parser"}
        if name == "add_parser" and node.args:
            first, ok = _literal(node.args[0])
            if not (ok and isinstance(first, str)):
                return set()
            aliases = [a for k in node.keywords if k.arg == "aliases" for a in (_literal(k.value)[0] or ())]
            out = set()
            for o in owner:
                if o[0] == "subs":
                    pid = self._parser(f"{o[1]} {first}", node, env)
                    for n in (first, *aliases):
                        self.parsers[o[1]]["subs"][n] = pid
                    out.add(("parser", pid))
            return out
        if name in ("add_argument_group", "add_mutually_exclusive_group"):
            required = name == "add_mutually_exclusive_group" and any(
                k.arg == "required" and _literal(k.value) == (True, True) for k in node.keywords)
            out = set()
            for o in owner:
                if o[0] in ("parser", "group"):
                    gid = f"{self._line(node)}" if required else (o[2] if o[0] == "group" else None)
                    if required:
                        self.parsers[o[1]]["groups"].setdefault(gid, [])
                    out.add(("group", o[1], gid))
            return out
        return set()

    def _block(self, body: list[ast.stmt], env: dict) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue  # functions are walked when called (or as entry points)
            if isinstance(stmt, (ast.For, ast.AsyncFor)):
                self._calls(stmt.iter, env)
                if isinstance(stmt.target, ast.Name) and (vals := self._eval(stmt.iter, env)):
                    env[stmt.target.id] = vals  # for p in (import_parser, export_parser): p.add_argument(...)
                self._block(stmt.body, env)
                self._block(stmt.orelse, env)
            elif isinstance(stmt, (ast.If, ast.While)):
                self._calls(stmt.test, env)
                self._block(stmt.body, env)
                self._block(stmt.orelse, env)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                self._block(stmt.body, env)
            elif isinstance(stmt, ast.Try):
                for b in (stmt.body, *(h.body for h in stmt.handlers), stmt.orelse, stmt.finalbody):
                    self._block(b, env)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                vals = self._eval(stmt.value, env)
                self._calls(stmt.value, env, top=stmt.value if vals else None)
                for t in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                    if isinstance(t, ast.Name):
                        if vals:
                            env[t.id] = vals
                        else:
                            env.pop(t.id, None)
            else:
                self._calls(stmt, env)

    def _calls(self, node: ast.AST, env: dict, top: ast.AST | None = None) -> None:
        """Every add_argument, set_defaults, add_parser and helper call inside an expression or simple statement
        (`top`: a call already evaluated as an assignment's value)."""
        for n in ast.walk(node):
            if not isinstance(n, ast.Call) or n is top:
                continue
            name, f = _call_name(n), n.func
            if isinstance(f, ast.Attribute) and name in ("add_argument", "set_defaults"):
                owners = [o for o in self._eval(f.value, env) if o[0] in ("parser", "group")] or [("parser", self._fallback(n))]
                for o in owners:
                    (self._add_argument if name == "add_argument" else self._set_defaults)(n, o)
            elif isinstance(f, ast.Name) and name in self.functions:
                fn = self.functions[name]
                params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
                bound = {p: v for p, a in zip(params, n.args) if (v := self._eval(a, env))}
                bound.update({k.arg: v for k in n.keywords if k.arg and (v := self._eval(k.value, env))})
                key = (name, tuple(sorted((k, tuple(sorted(map(str, v)))) for k, v in bound.items())))
                if key not in self.walked:  # once per binding; also ends recursion
                    self.walked.add(key)
                    self._block(fn.body, dict(bound))
            elif isinstance(f, ast.Attribute) and name in ("add_parser", "add_subparsers"):
                self._eval(n, env)  # a sub-command with no options of its own is still a sub-command

    def _fallback(self, node: ast.Call) -> str:
        roots = [k for k in self.parsers if k.startswith("<root") and " " not in k]
        return roots[0] if roots else self._parser("<root@0>", node, {})

    def _add_argument(self, node: ast.Call, owner: tuple) -> None:
        parser = self.parsers[owner[1]]
        names, line = [], self._line(node)
        for a in node.args:
            value, ok = _literal(a)
            if ok and isinstance(value, str):
                line = self._line(a) if not names else line
                names.append(value)
            else:
                parser["dynamic"].append(self._line(node))
        if not names:
            return
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        action = None
        if "action" in kw:
            action, ok = _literal(kw["action"])
            action = action if ok and isinstance(action, str) else self._text(kw["action"])
        boolean_optional = isinstance(action, str) and action.endswith("BooleanOptionalAction")
        nargs = _literal(kw["nargs"])[0] if "nargs" in kw else None
        choices, choices_literal = _literal(kw["choices"]) if "choices" in kw else (None, False)
        if "choices" in kw and not choices_literal:
            choices = self._text(kw["choices"])
        if "default" in kw:
            default, literal = _literal(kw["default"])
            default = default if literal else self._text(kw["default"])
            default_line = self._line(kw["default"])
        else:
            default, literal, default_line = {"store_true": False, "store_false": True}.get(action), True, line
        options = [n for n in names if n[:1] == "-"]
        if boolean_optional:
            options += [f"--no-{o[2:]}" for o in options if o.startswith("--")]
        dest, ok = _literal(kw["dest"]) if "dest" in kw else (None, False)
        if not (ok and isinstance(dest, str)):
            first_long = next((o for o in options if o.startswith("--")), (options or names)[0])
            dest = first_long.lstrip("-").replace("-", "_")
        parser["args"].append({
            "flags": options or names, "dest": dest, "default": default, "literal": literal, "default_line": default_line,
            "action": action, "nargs": nargs, "choices": choices, "choices_literal": choices_literal,
            "required": bool(options) and "required" in kw and _literal(kw["required"]) == (True, True),
            "takes_value": not (action in _NO_VALUE or boolean_optional or nargs == 0), "positional": not options,
            "line": line})
        if owner[0] == "group" and owner[2] is not None and options:
            parser["groups"].setdefault(owner[2], []).append(options[0])

    def _set_defaults(self, node: ast.Call, owner: tuple) -> None:
        for k in node.keywords:
            if k.arg:
                value, ok = _literal(k.value)
                self.parsers[owner[1]]["defaults"][k.arg] = (value if ok else self._text(k.value), ok, self._line(k.value))

    def _finish(self) -> dict:
        def inherited(pid: str, seen: frozenset = frozenset()) -> list[dict]:
            p = self.parsers[pid]
            return [a for par in p["parents"] if par not in seen and par in self.parsers
                    for a in inherited(par, seen | {pid})] + p["args"]

        parents_only = {x for p in self.parsers.values() for x in p["parents"]}
        out: dict[str, dict] = {}
        # Every top-level parser that is not only a `parents=` template counts as the script's parser: a script
        # with a pre-parser (parse_known_args) accepts what either declares.
        for pid, p in sorted(self.parsers.items(), key=lambda kv: (kv[1]["line"], kv[0])):
            if pid in parents_only:
                continue
            path = pid.split(" ", 1)[1] if " " in pid else ""
            q = out.setdefault(path, {"line": p["line"], "allow_abbrev": True, "options": {}, "positionals": [],
                                      "subcommands": [], "required_groups": [], "dynamic": []})
            q["allow_abbrev"] = q["allow_abbrev"] and p["allow_abbrev"]
            for a in inherited(pid):
                a = dict(a)
                if a["dest"] in p["defaults"]:
                    a["default"], a["literal"], a["default_line"] = p["defaults"][a["dest"]]
                if a["positional"]:
                    if not any(x["line"] == a["line"] for x in q["positionals"]):
                        q["positionals"].append(a)
                    continue
                for o in a["flags"]:
                    q["options"].setdefault(o, a)  # the first definition wins (e.g. the first branch of an if)
            q["subcommands"] += [s for s in p["subs"] if s not in q["subcommands"]]
            q["required_groups"] += [g for g in p["groups"].values() if g and g not in q["required_groups"]]
            q["dynamic"] += [d for d in p["dynamic"] if d not in q["dynamic"]]
        out.setdefault("", {"line": 0, "allow_abbrev": True, "options": {}, "positionals": [], "subcommands": [],
                            "required_groups": [], "dynamic": []})
        return {"filename": self.filename, "parsers": out}


def invocations(command: str) -> list[dict]:
    """The upstream scripts a shell command runs: `python|python3|torchrun [launcher options] <path>.py args`,
    with /opt/Model-Optimizer/... (or ${MODELOPT_DIR}/...) and /opt/Megatron-Bridge/... mapped to
    {"repo": "modelopt"|"bridge", "path": the path inside the checkout, "script": as written, "args": [...]}.
    The launcher's own options (torchrun --nproc_per_node 8) are not the script's. Other scripts are left out."""
    out = []
    for line in re.sub(r"\\\n", " ", command).split("\n"):
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # unbalanced quotes: the words are still good enough to find flags
            words = line.split()
        segment: list[str] = []
        for w in [*words, ";"]:
            if w not in _SEPARATORS:
                segment.append(w)
                continue
            inv = _invocation(segment)
            if inv:
                out.append(inv)
            segment = []
    return out


def _invocation(words: list[str]) -> dict | None:
    start = next((i for i, w in enumerate(words) if _LAUNCHER.match(w)), None)
    if start is None:
        return None
    for i in range(start + 1, len(words)):
        w = words[i]
        if w in ("-m", "-c", "-") or w.startswith(("-m", "-c")) and words[start].split("/")[-1] != "torchrun":
            return None  # python -m module / -c code: no script file
        if w.endswith(".py") and not w.startswith("-"):
            for prefix, repo in UPSTREAM.items():
                if w.startswith(prefix):
                    return {"repo": repo, "path": w[len(prefix):].lstrip("/"), "script": w, "args": words[i + 1:]}
            return None
    return None


def flags(commands: list[str] | dict[str, str], modelopt_root: Path | None, bridge_root: Path | None,
          baseline: dict[str, Path] | None = None) -> list[Finding]:
    """Check, statically, that every upstream script the commands run exists in the given checkout and
    accepts every flag passed to it; with `baseline` ({"modelopt": older checkout, "bridge": ...}) also
    report defaults that changed since the baseline for flags the command does not pass (it relies on them).

    `commands`: {recipe name: command} (pass them after errata), or a plain list (then each finding's step
    is the script's name). Findings, per script run: MISSING for a missing script, an unknown, ambiguous or
    required-but-absent flag, or a value outside `choices`; CHANGED for each changed default relied on; one
    SAME when none of these; SKIP when its checkout was not given or it declares no argparse options."""
    items = commands.items() if isinstance(commands, dict) else ((None, c) for c in commands)
    roots = {"modelopt": modelopt_root, "bridge": bridge_root}
    out: list[Finding] = []
    for name, command in items:
        for inv in invocations(command):
            out += _check(name or Path(inv["path"]).stem, inv, roots, baseline or {})
    return out


def _check(step: str, inv: dict, roots: dict, baseline: dict) -> list[Finding]:
    repo, rel = inv["repo"], inv["path"]
    root = roots.get(repo)
    if root is None:
        return [Finding(step, rel, SKIP, note=f"not checked: no {_NAMES[repo]} checkout given ({_ROOT_FLAG[repo]} DIR)")]
    root = Path(root)
    script = root / rel
    if not script.is_file():
        return [_missing_script(step, rel, root)]
    text = script.read_text(encoding="utf-8", errors="replace")
    try:
        spec = argparse_spec(text, str(script))
    except SyntaxError as e:
        return [Finding(step, rel, ERROR, where=f"{rel}:{e.lineno}",
                        note=f"cannot read the argparse options of {script}: {e.msg} at line {e.lineno}; "
                             "what to do: check that the checkout is complete and the file is Python")]
    via = _symlinked(root, rel)
    sub, args, sub_problem = _subcommand(spec, inv["args"])
    if sub_problem:
        return [Finding(step, f"{rel} {sub_problem[0]}", MISSING, expected=sub_problem[0], where=f"{rel}:{spec['parsers']['']['line']}",
                        note=sub_problem[1])]
    parser = spec["parsers"][sub]
    sid = f"{rel} {sub}".strip()
    if not parser["options"] and not parser["positionals"] and not parser["subcommands"]:
        return [Finding(step, sid, SKIP, where=rel, note=f"{rel} exists{via} but declares no argparse options that the "
                        "kit can read (not argparse?): its flags were not checked")]
    found, used, notes = [], [], []
    for flag, value in _flag_words(args):
        arg, how, problem = _resolve(flag, parser)
        if problem:
            found.append(_unknown_flag(step, rel, root, flag, parser, problem, baseline.get(repo), sub))
            continue
        used.append(arg)
        if how:
            notes.append(how)
        if (arg["choices_literal"] and isinstance(arg["choices"], (list, tuple, set)) and arg["nargs"] is None and value is not None
                and "$" not in value and value not in [str(c) for c in arg["choices"]]):
            found.append(Finding(step, f"{flag} {value}", MISSING, expected=value, measured=list(arg["choices"]),
                                 where=f"{rel}:{arg['line']}",
                                 note=f"{rel}:{arg['line']} in {root} accepts {flag} only with one of {list(arg['choices'])}; "
                                      f"the recipe passes {value!r}. What to do: pick one of those values in the recipe "
                                      "(an erratum), or pin the ref that accepted it."))
    dests = {a["dest"] for a in used}
    for a in {id(a): a for a in parser["options"].values()}.values():
        if a["required"] and a["dest"] not in dests:
            found.append(Finding(step, a["flags"][0], MISSING, expected=a["flags"][0], where=f"{rel}:{a['line']}",
                                 note=f"{rel}:{a['line']} in {root} makes {a['flags'][0]} required and the recipe does not "
                                      "pass it: argparse would stop before anything runs. What to do: add it to the "
                                      "recipe (an erratum), or pin the ref that did not need it."))
    for group in parser["required_groups"]:
        if not any(parser["options"][o]["dest"] in dests for o in group if o in parser["options"]):
            line = parser["options"][group[0]]["line"] if group[0] in parser["options"] else parser["line"]
            found.append(Finding(step, " | ".join(group), MISSING, expected=" or ".join(group), where=f"{rel}:{line}",
                                 note=f"{rel}:{line} in {root} requires one of {', '.join(group)} and the recipe passes "
                                      "none: argparse would stop before anything runs. What to do: pass one of them."))
    if baseline.get(repo) is not None:
        found += _changed_defaults(step, rel, root, Path(baseline[repo]), parser, sub, dests)
    if not found:
        flags_seen = sorted({f for f, _ in _flag_words(args)})
        abbrev = f" ({'; '.join(notes)})" if notes else ""
        found.append(Finding(step, sid, SAME, measured=f"{len(flags_seen)} flags accepted{abbrev}", where=rel,
                             note=f"{rel} exists in {root}{via} and accepts every flag the recipe passes "
                                  f"({' '.join(flags_seen) or 'none'}){abbrev}"))
    return found


def _flag_words(args: list[str]) -> list[tuple[str, str | None]]:
    """(option as written, without `=value`; the value given with it or after it, or None) for each option word."""
    out = []
    for i, w in enumerate(args):
        if w == "--":
            break
        if not w.startswith("-") or w == "-" or _NEGATIVE.match(w):
            continue
        flag, eq, value = w.partition("=")
        nxt = args[i + 1] if i + 1 < len(args) else None
        out.append((flag, value if eq else nxt if nxt is not None and not nxt.startswith("-") else None))
    return out


def _resolve(flag: str, parser: dict) -> tuple[dict | None, str, str]:
    """(the argument, a note if reached by abbreviation, a problem) as argparse would resolve `flag`."""
    options = parser["options"]
    if flag in options:
        return options[flag], "", ""
    if flag[:2] != "--" and len(flag) > 2 and flag[:2] in options and options[flag[:2]]["takes_value"]:
        return options[flag[:2]], "", ""  # -xVALUE: a short option with its value attached
    if parser["allow_abbrev"]:
        matches = sorted(o for o in options if o.startswith(flag) and (o[:2] == "--") == (flag[:2] == "--"))
        if len(matches) == 1:
            return options[matches[0]], f"{flag} is accepted as an abbreviation of {matches[0]}", ""
        if len(matches) > 1:
            return None, "", f"ambiguous: argparse stops with 'ambiguous option: {flag} could match {', '.join(matches)}'"
    return None, "", "unknown"


def _closest(flag: str, options, cutoff: float = 0.6) -> list[str]:
    """difflib's closest option names, comparing without dashes and with "_" and "-" alike (so that
    --trust-remote-code finds --trust_remote_code)."""
    key = flag.lstrip("-").replace("-", "_").lower()
    by_norm: dict[str, list[str]] = {}
    for o in options:
        if o[:2] == "--" or flag[:2] != "--":
            by_norm.setdefault(o.lstrip("-").replace("-", "_").lower(), []).append(o)
    return [o for n in difflib.get_close_matches(key, list(by_norm), n=3, cutoff=cutoff) for o in sorted(by_norm[n])][:3]


def _unknown_flag(step: str, rel: str, root: Path, flag: str, parser: dict, problem: str, base_root, sub: str) -> Finding:
    options = parser["options"]
    where = f"{rel}:{parser['line']}"
    if problem != "unknown":
        return Finding(step, flag, MISSING, expected=flag, where=where,
                       note=f"{rel} in {root}: {flag} is not an option of its own, and as an abbreviation it is {problem}. "
                            "What to do: spell the option out in full in the recipe.")
    close, hint = _closest(flag, options), ""
    strong = close[0] if close else None
    if close:
        hint = "; closest: " + ", ".join(f"{c} (line {options[c]['line']})" for c in close)
        where = f"{rel}:{options[close[0]]['line']}"
    elif (close := _closest(flag, options, cutoff=0.3)[:2]):
        hint = ("; no option has a similar name (nearest by spelling: "
                + ", ".join(f"{c} (line {options[c]['line']})" for c in close) + ", unlikely a rename)")
    was = ""
    if base_root is not None and (bfile := _baseline_file(Path(base_root), rel)) is not None:
        try:
            bparser = argparse_spec(bfile.read_text(encoding="utf-8", errors="replace"), str(bfile))["parsers"].get(sub)
        except SyntaxError:
            bparser = None
        if bparser and flag in bparser["options"]:
            was = f" It is defined in the baseline at {bfile.relative_to(base_root).as_posix()}:{bparser['options'][flag]['line']} ({base_root})."
    dyn = (f" (the script also builds option names at run time, line {parser['dynamic'][0]}: check those by hand)"
           if parser["dynamic"] else "")
    spelled = ""
    if any(o.lstrip("-").replace("-", "_") == flag.lstrip("-").replace("-", "_") for o in close):
        spelled = " argparse does not treat '-' and '_' as the same: the spelling must match exactly."
    return Finding(step, flag, MISSING, expected=flag, measured=strong, where=where,
                   note=f"{rel} in {root} has no option {flag} (removed or renamed?){hint}{dyn}.{was}{spelled} "
                        "What to do: rename or drop the flag in the recipe (an erratum with a version range in "
                        "recipes/errata.yaml), or pin the ref that still has it.")


def _subcommand(spec: dict, args: list[str]) -> tuple[str, list[str], tuple[str, str] | None]:
    """The sub-command the arguments select (convert_checkpoints.py export ...), the arguments after it, and
    (id, note) when the script has sub-commands and the recipe names none it knows."""
    top = spec["parsers"][""]
    if not top["subcommands"]:
        return "", args, None
    i, n = 0, len(args)
    while i < n:
        w = args[i]
        if w.startswith("-") and not _NEGATIVE.match(w):
            arg = top["options"].get(w.partition("=")[0])
            i += 2 if arg and arg["takes_value"] and "=" not in w and arg["nargs"] in (None, 1) else 1
            continue
        if w in top["subcommands"]:
            return w, args[i + 1:], None
        close = difflib.get_close_matches(w, top["subcommands"], n=1)
        return "", args, (w, f"{spec['filename']} has no sub-command {w!r} (removed or renamed?); it has "
                             f"{', '.join(top['subcommands'])}" + (f"; closest: {close[0]}" if close else "")
                          + ". What to do: use one of those in the recipe, or pin the ref that had it.")
    return "", args, ("(none)", f"{spec['filename']} needs a sub-command ({', '.join(top['subcommands'])}) and the recipe "
                                "gives none. What to do: add it to the recipe.")


def _symlinked(root: Path, rel: str) -> str:
    """' (through the symlink examples/llm_ptq -> hf_ptq)' when a component of the path is a symlink."""
    parts = Path(rel).parts
    for k in range(1, len(parts) + 1):
        p = root.joinpath(*parts[:k])
        if p.is_symlink():
            return f" (through the symlink {Path(*parts[:k]).as_posix()} -> {p.readlink().as_posix()})"
    return ""


def _files(root: Path):
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(d.iterdir())
        except OSError:
            continue
        for e in entries:
            if e.is_dir() and not e.is_symlink():
                if e.name not in _SKIP_DIRS:
                    stack.append(e)
            else:
                yield e


def _baseline_file(base_root: Path, rel: str) -> Path | None:
    """The same script in the baseline checkout: at the same path, else the only file of that name."""
    if (base_root / rel).is_file():
        return base_root / rel
    same = [f for f in _files(base_root) if f.name == Path(rel).name and f.is_file()]
    return same[0] if len(same) == 1 else None


def _missing_script(step: str, rel: str, root: Path) -> Finding:
    """MISSING, with where the script may have gone: files of the same name, close names beside it, or a
    directory of the same name elsewhere (Megatron-Bridge moved examples/conversion to scripts/conversion)."""
    p = Path(rel)
    files = list(_files(root))
    same = [f.relative_to(root).as_posix() for f in files if f.name == p.name and f.is_file()]
    hints = []
    if same:
        hints.append(f"a file of that name is at {', '.join(same[:3])}")
    parent = root / p.parent
    if parent.is_symlink() and not parent.exists():
        hints.append(f"{p.parent.as_posix()} is a broken symlink (-> {parent.readlink().as_posix()})")
    elif parent.is_dir():
        beside = [f.name for f in parent.iterdir() if f.suffix == ".py"]
        close = difflib.get_close_matches(p.name, beside, n=3, cutoff=0.5)
        if close:
            hints.append(f"beside it: {', '.join(close)}")
    else:
        hints.append(f"{p.parent.as_posix()}/ does not exist")
        dirs = sorted({f.parent.relative_to(root).as_posix() for f in files
                       if f.parent.name == p.parent.name and f.parent != root / p.parent})
        if dirs:
            hints.append(f"a directory of the same name exists: {', '.join(d + '/' for d in dirs[:3])}")
    return Finding(step, rel, MISSING, expected=rel, measured=same[0] if same else None, where=rel,
                   note=f"the recipe runs {rel}; it is not in the {root} checkout ({'; '.join(hints) or 'no file of that name anywhere in it'}). "
                        "What to do: point the recipe at the script's new place (an erratum with a version range in "
                        "recipes/errata.yaml) after checking its flags, or pin the ref that still has it.")


def _show(arg: dict) -> str:
    return repr(arg["default"]) if arg["literal"] else str(arg["default"])


def _changed_defaults(step: str, rel: str, root: Path, base_root: Path, parser: dict, sub: str, passed: set) -> list[Finding]:
    """CHANGED for every option the recipe does not pass whose default differs from the baseline's."""
    bfile = _baseline_file(base_root, rel)
    if bfile is None:
        return []
    try:
        bparser = argparse_spec(bfile.read_text(encoding="utf-8", errors="replace"), str(bfile))["parsers"].get(sub)
    except SyntaxError:
        return []
    if not bparser:
        return []
    brel = bfile.relative_to(base_root).as_posix()
    out = []
    for a in {id(a): a for a in parser["options"].values()}.values():
        if a["dest"] in passed or a["action"] in ("help", "version"):
            continue
        b = next((bparser["options"][o] for o in a["flags"] if o in bparser["options"]), None)
        if b is None:
            continue
        same = (a["default"] == b["default"] and type(a["default"]) is type(b["default"])) if a["literal"] and b["literal"] \
            else (not a["literal"] and not b["literal"] and a["default"] == b["default"])
        if same:
            continue
        flag = next((o for o in a["flags"] if o.startswith("--")), a["flags"][0])
        shown = lambda x: "None" if x is None else x  # noqa: E731 - a renderer shows None as "—", i.e. nothing
        out.append(Finding(step, flag, CHANGED, expected=shown(b["default"]), measured=shown(a["default"]),
                           where=f"{rel}:{a['default_line']}",
                           note=f"the default of {flag} was {_show(b)} in the baseline ({brel}:{b['default_line']} in {base_root}) "
                                f"and is {_show(a)} here ({rel}:{a['default_line']} in {root}); the recipe does not pass {flag}, "
                                f"so it now runs with {_show(a)}"
                                + (f" (None is often resolved later in the script: see how {a['dest']} is used)"
                                   if a["literal"] and a["default"] is None else "")
                                + ". What to do: if the old behaviour matters, pass "
                                f"{flag} {b['default'] if b['literal'] else '<value>'} in the recipe (an erratum with a version range); "
                                "otherwise expect the change in the results (checks diff) and re-bless the goldens."))
    return out


def read_commands(path: Path) -> dict[str, str]:
    """Commands to check, from a file: JSON {name: command}, or a shell script (name: its stem, or its
    directory's name for a step's rendered command.sh)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ValueError(f"{path}: expected a JSON object {{name: command}}")
        return data
    return {path.parent.name if path.name == "command.sh" else path.stem: text}
