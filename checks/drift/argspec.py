"""The options a script's argparse definitions declare, read with `ast`: the script is never imported (the
tutorial's scripts import torch, Megatron and ModelOpt). Used by `checks drift` to decide, as argparse
would, whether a command's flags are accepted."""

from __future__ import annotations

import ast

_NO_VALUE = {"store_true", "store_false", "store_const", "append_const", "count", "help", "version"}


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


def literal(node: ast.AST) -> tuple[object, bool]:
    try:
        return ast.literal_eval(node), True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None, False


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _is_true(kw: dict, name: str) -> bool:
    return name in kw and literal(kw[name]) == (True, True)


def _empty_parser(line: int) -> dict:
    return {"line": line, "allow_abbrev": True, "options": {}, "positionals": [], "subcommands": [],
            "required_groups": [], "dynamic": []}


class _SpecReader:
    """Walks the statements in order, tracking which variables hold a parser, a sub-parsers action or an
    argument group (values: ("parser", id), ("subs", parser id), ("group", parser id, required-group id))."""

    def __init__(self, source: str, filename: str):
        self.filename, self.shift = filename, 0
        try:
            self.source = source
            self.tree = ast.parse(source, filename)
        except SyntaxError as first:
            # An indented extract (a function body, maybe after the module's imports): parse it as the body of an
            # `if`, which keeps every line where it was.
            lines = [("    " + line if line[:1] not in ("", " ", "\t", "#") else line) for line in source.split("\n")]
            self.source, self.shift = "if True:\n" + "\n".join(lines), 1
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
            if k.arg == "allow_abbrev" and literal(k.value) == (False, True):
                p["allow_abbrev"] = False
            if k.arg == "parents" and isinstance(k.value, (ast.List, ast.Tuple)):
                p["parents"] += [v[1] for e in k.value.elts for v in self._eval(e, env) if v[0] == "parser" and v[1] != pid]
        return pid

    # --- what an expression holds -------------------------------------------------------------------------

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
            return self._add_parser(node, owner, env)
        if name in ("add_argument_group", "add_mutually_exclusive_group"):
            return self._group(node, name, owner)
        return set()

    def _add_parser(self, node: ast.Call, owner: set, env: dict) -> set:
        first, ok = literal(node.args[0])
        if not (ok and isinstance(first, str)):
            return set()
        aliases = [a for k in node.keywords if k.arg == "aliases" for a in (literal(k.value)[0] or ())]
        out = set()
        for o in (o for o in owner if o[0] == "subs"):
            pid = self._parser(f"{o[1]} {first}", node, env)
            for n in (first, *aliases):
                self.parsers[o[1]]["subs"][n] = pid
            out.add(("parser", pid))
        return out

    def _group(self, node: ast.Call, name: str, owner: set) -> set:
        required = name == "add_mutually_exclusive_group" and _is_true({k.arg: k.value for k in node.keywords}, "required")
        out = set()
        for o in (o for o in owner if o[0] in ("parser", "group")):
            gid = f"{self._line(node)}" if required else (o[2] if o[0] == "group" else None)
            if required:
                self.parsers[o[1]]["groups"].setdefault(gid, [])
            out.add(("group", o[1], gid))
        return out

    # --- statements --------------------------------------------------------------------------------------

    def _block(self, body: list[ast.stmt], env: dict) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue  # functions are walked when called (or as entry points)
            if isinstance(stmt, (ast.For, ast.AsyncFor)):
                self._for(stmt, env)
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
                self._assign(stmt, env)
            else:
                self._calls(stmt, env)

    def _for(self, stmt: ast.For | ast.AsyncFor, env: dict) -> None:
        self._calls(stmt.iter, env)
        if isinstance(stmt.target, ast.Name) and (vals := self._eval(stmt.iter, env)):
            env[stmt.target.id] = vals  # for p in (import_parser, export_parser): p.add_argument(...)
        self._block(stmt.body, env)
        self._block(stmt.orelse, env)

    def _assign(self, stmt: ast.Assign | ast.AnnAssign, env: dict) -> None:
        vals = self._eval(stmt.value, env)
        self._calls(stmt.value, env, top=stmt.value if vals else None)
        for t in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
            if not isinstance(t, ast.Name):
                continue
            if vals:
                env[t.id] = vals
            else:
                env.pop(t.id, None)

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
                self._helper(n, name, env)
            elif isinstance(f, ast.Attribute) and name in ("add_parser", "add_subparsers"):
                self._eval(n, env)  # a sub-command with no options of its own is still a sub-command

    def _helper(self, call: ast.Call, name: str, env: dict) -> None:
        """A call of one of the script's own functions: walk its body with the parsers passed to it bound."""
        fn = self.functions[name]
        params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
        bound = {p: v for p, a in zip(params, call.args) if (v := self._eval(a, env))}
        bound.update({k.arg: v for k in call.keywords if k.arg and (v := self._eval(k.value, env))})
        key = (name, tuple(sorted((k, tuple(sorted(map(str, v)))) for k, v in bound.items())))
        if key not in self.walked:  # once per binding; also ends recursion
            self.walked.add(key)
            self._block(fn.body, dict(bound))

    def _fallback(self, node: ast.Call) -> str:
        roots = [k for k in self.parsers if k.startswith("<root") and " " not in k]
        return roots[0] if roots else self._parser("<root@0>", node, {})

    # --- one add_argument ----------------------------------------------------------------------------------

    def _names(self, node: ast.Call, parser: dict) -> tuple[list[str], int]:
        """The literal option strings (or positional name) and the line of the first; computed names are dynamic."""
        names, line = [], self._line(node)
        for a in node.args:
            value, ok = literal(a)
            if ok and isinstance(value, str):
                line = self._line(a) if not names else line
                names.append(value)
            else:
                parser["dynamic"].append(self._line(node))
        return names, line

    def _keyword(self, kw: dict, name: str) -> tuple[object, bool]:
        """(value, literal?) of a keyword; a non-literal as its source text."""
        value, ok = literal(kw[name])
        return (value, True) if ok else (self._text(kw[name]), False)

    def _default(self, kw: dict, action: object, line: int) -> tuple[object, bool, int]:
        if "default" in kw:
            return (*self._keyword(kw, "default"), self._line(kw["default"]))
        return {"store_true": False, "store_false": True}.get(action), True, line

    def _add_argument(self, node: ast.Call, owner: tuple) -> None:
        parser = self.parsers[owner[1]]
        names, line = self._names(node, parser)
        if not names:
            return
        arg = self._arg(names, line, {k.arg: k.value for k in node.keywords if k.arg})
        parser["args"].append(arg)
        if owner[0] == "group" and owner[2] is not None and not arg["positional"]:
            parser["groups"].setdefault(owner[2], []).append(arg["flags"][0])

    def _arg(self, names: list[str], line: int, kw: dict) -> dict:
        action = self._keyword(kw, "action")[0] if "action" in kw else None
        boolean_optional = isinstance(action, str) and action.endswith("BooleanOptionalAction")
        nargs = literal(kw["nargs"])[0] if "nargs" in kw else None
        choices, choices_literal = self._keyword(kw, "choices") if "choices" in kw else (None, False)
        default, is_literal, default_line = self._default(kw, action, line)
        options = [n for n in names if n[:1] == "-"]
        flags = options + ([f"--no-{o[2:]}" for o in options if o.startswith("--")] if boolean_optional else [])
        return {"flags": flags or names, "dest": _dest(kw, flags or names), "default": default, "literal": is_literal,
                "default_line": default_line, "action": action, "nargs": nargs, "choices": choices,
                "choices_literal": choices_literal, "required": bool(options) and _is_true(kw, "required"),
                "takes_value": not (action in _NO_VALUE or boolean_optional or nargs == 0), "positional": not options,
                "line": line}

    def _set_defaults(self, node: ast.Call, owner: tuple) -> None:
        for k in node.keywords:
            if k.arg:
                value, ok = literal(k.value)
                self.parsers[owner[1]]["defaults"][k.arg] = (value if ok else self._text(k.value), ok, self._line(k.value))

    # --- the result ----------------------------------------------------------------------------------------

    def _inherited(self, pid: str, seen: frozenset = frozenset()) -> list[dict]:
        p = self.parsers[pid]
        return [a for par in p["parents"] if par not in seen and par in self.parsers
                for a in self._inherited(par, seen | {pid})] + p["args"]

    def _merge(self, q: dict, pid: str, p: dict) -> None:
        q["allow_abbrev"] = q["allow_abbrev"] and p["allow_abbrev"]
        for a in self._inherited(pid):
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

    def _finish(self) -> dict:
        parents_only = {x for p in self.parsers.values() for x in p["parents"]}
        out: dict[str, dict] = {}
        # Every top-level parser that is not only a `parents=` template counts as the script's parser: a script
        # with a pre-parser (parse_known_args) accepts what either declares.
        for pid, p in sorted(self.parsers.items(), key=lambda kv: (kv[1]["line"], kv[0])):
            if pid not in parents_only:
                path = pid.split(" ", 1)[1] if " " in pid else ""
                self._merge(out.setdefault(path, _empty_parser(p["line"])), pid, p)
        out.setdefault("", _empty_parser(0))
        return {"filename": self.filename, "parsers": out}


def _dest(kw: dict, names: list[str]) -> str:
    dest, ok = literal(kw["dest"]) if "dest" in kw else (None, False)
    if ok and isinstance(dest, str):
        return dest
    first_long = next((o for o in names if o.startswith("--")), names[0])
    return first_long.lstrip("-").replace("-", "_")
