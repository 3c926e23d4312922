"""Does every upstream script a command runs exist in the checkout, and accept every flag it passes?

Read statically (checks.drift.argspec). The checker decides as argparse would: exact option strings, or an
unambiguous prefix of one unless the parser sets allow_abbrev=False; no normalisation of "_" and "-"; a
sub-command's options belong to its own parser."""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from checks.drift.argspec import argparse_spec
from checks.drift.layout import (ENTRY_POINTS, REPOS, UPSTREAM, baseline_parser, changed_defaults, missing_script,  # noqa: F401
                                 shell_entry, symlinked)
from checks.findings import ERROR, MISSING, SAME, SKIP, Finding

ROOT_FLAG = {"modelopt": "--modelopt-root", "bridge": "--bridge-root"}
_LAUNCHER = re.compile(r"^(?:.*/)?(?:python(?:3(?:\.\d+)?)?|torchrun)$")
_NEGATIVE = re.compile(r"^-\d+$|^-\d*\.\d+$")  # argparse's own rule: such a word is a value, not an option
_SEPARATORS = {";", "&&", "||", "|", "&"}


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
    shell = shell_entry(words)
    if shell:
        return shell
    start = next((i for i, w in enumerate(words) if _LAUNCHER.match(w)), None)
    if start is None:
        return None
    torchrun = words[start].split("/")[-1] == "torchrun"
    for i in range(start + 1, len(words)):
        w = words[i]
        if w in ("-m", "-c", "-") or w.startswith(("-m", "-c")) and not torchrun:
            return None  # python -m module / -c code: no script file
        if w.endswith(".py") and not w.startswith("-"):
            prefix = next((p for p in UPSTREAM if w.startswith(p)), None)
            return None if prefix is None else {"repo": UPSTREAM[prefix], "path": w[len(prefix):].lstrip("/"),
                                                "script": w, "args": words[i + 1:]}
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


@dataclass
class _Target:
    """One script run: where it is, what it was given, and the parser that reads it."""
    step: str
    repo: str
    rel: str
    root: Path
    base_root: Path | None
    args: list[str] = field(default_factory=list)
    sub: str = ""
    parser: dict = field(default_factory=dict)
    declared_in: str = ""  # the file that declares the options, when not the script itself (a shell entry point)

    @property
    def src(self) -> str:
        return self.declared_in or self.rel

    @property
    def at(self) -> str:
        via = f", options declared in {self.declared_in}" if self.declared_in else ""
        return f"{REPOS[self.repo]}'s {self.rel} (checkout {self.root}{via})"


def _check(step: str, inv: dict, roots: dict, baseline: dict) -> list[Finding]:
    repo, rel = inv["repo"], inv["path"]
    if roots.get(repo) is None:
        return [Finding(step, rel, SKIP, note=f"not checked: no {REPOS[repo]} checkout given ({ROOT_FLAG[repo]} DIR)")]
    t = _Target(step, repo, rel, Path(roots[repo]), Path(baseline[repo]) if baseline.get(repo) else None)
    script = t.root / rel
    if not script.is_file():
        return [missing_script(step, rel, t.root, repo)]
    if rel.endswith(".sh"):
        if not inv.get("parser"):
            return [Finding(step, rel, SKIP, where=rel, note=f"{t.at} is a shell script whose options the kit cannot "
                                                             "read: its flags were not checked")]
        script, t.declared_in = t.root / inv["parser"], inv["parser"]
        if not script.is_file():
            return [missing_script(step, inv["parser"], t.root, repo)]
    try:
        spec = argparse_spec(script.read_text(encoding="utf-8", errors="replace"), str(script))
    except SyntaxError as e:
        return [Finding(step, rel, ERROR, where=f"{t.src}:{e.lineno}",
                        note=f"cannot read the argparse options of {t.at}: {e.msg} at line {e.lineno}; "
                             "what to do: check that the checkout is complete and the file is Python")]
    t.sub, t.args, sub_problem = _subcommand(spec, inv["args"])
    if sub_problem:
        return [Finding(step, f"{rel} {sub_problem[0]}", MISSING, expected=sub_problem[0],
                        where=f"{t.src}:{spec['parsers']['']['line']}", note=f"{REPOS[repo]}: {sub_problem[1]}")]
    t.parser = spec["parsers"][t.sub]
    return _judge(t, symlinked(t.root, rel))


def _judge(t: _Target, via: str) -> list[Finding]:
    sid = f"{t.rel} {t.sub}".strip()
    p = t.parser
    if not p["options"] and not p["positionals"] and not p["subcommands"]:
        return [Finding(t.step, sid, SKIP, where=t.rel, note=f"{t.at} exists{via} but declares no argparse options "
                        "that the kit can read (not argparse?): its flags were not checked")]
    found, dests, notes = _flag_findings(t)
    found += _required(t, dests)
    changed = changed_defaults(t.step, t.rel, t.root, t.base_root, p, t.sub, dests) if t.base_root is not None else []
    if found:
        return found + changed
    seen = sorted({f for f, _ in _flag_words(t.args)})
    abbrev = f" ({'; '.join(notes)})" if notes else ""
    return [Finding(t.step, sid, SAME, measured=f"{len(seen)} flags accepted{abbrev}", where=t.rel,
                    note=f"{t.at} exists{via} and accepts every flag the recipe passes ({' '.join(seen) or 'none'}){abbrev}")
            ] + changed


def _flag_findings(t: _Target) -> tuple[list[Finding], set, list[str]]:
    """(MISSING for each unknown flag or value outside `choices`, the dests passed, abbreviation notes)."""
    found, dests, notes = [], set(), []
    for flag, value in _flag_words(t.args):
        arg, how, problem = _resolve(flag, t.parser)
        if problem:
            found.append(_unknown_flag(t, flag, problem))
            continue
        dests.add(arg["dest"])
        if how:
            notes.append(how)
        if _outside_choices(arg, value):
            found.append(Finding(t.step, f"{flag} {value}", MISSING, expected=value, measured=list(arg["choices"]),
                                 where=f"{t.src}:{arg['line']}",
                                 note=f"{t.at}:{arg['line']} accepts {flag} only with one of {list(arg['choices'])}; "
                                      f"the recipe passes {value!r}. What to do: pick one of those values in the recipe "
                                      "(an erratum), or pin the ref that accepted it."))
    return found, dests, notes


def _outside_choices(arg: dict, value: str | None) -> bool:
    return (arg["choices_literal"] and isinstance(arg["choices"], (list, tuple, set)) and arg["nargs"] is None
            and value is not None and "$" not in value and value not in [str(c) for c in arg["choices"]])


def _required(t: _Target, dests: set) -> list[Finding]:
    out, p = [], t.parser
    for a in {id(a): a for a in p["options"].values()}.values():
        if a["required"] and a["dest"] not in dests:
            out.append(Finding(t.step, a["flags"][0], MISSING, expected=a["flags"][0], where=f"{t.src}:{a['line']}",
                               note=f"{t.at}:{a['line']} makes {a['flags'][0]} required and the recipe does not pass "
                                    "it: argparse would stop before anything runs. What to do: add it to the recipe "
                                    "(an erratum), or pin the ref that did not need it."))
    for group in p["required_groups"]:
        if not any(p["options"][o]["dest"] in dests for o in group if o in p["options"]):
            line = p["options"][group[0]]["line"] if group[0] in p["options"] else p["line"]
            out.append(Finding(t.step, " | ".join(group), MISSING, expected=" or ".join(group), where=f"{t.src}:{line}",
                               note=f"{t.at}:{line} requires one of {', '.join(group)} and the recipe passes none: "
                                    "argparse would stop before anything runs. What to do: pass one of them."))
    return out


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
    if not parser["allow_abbrev"]:
        return None, "", "unknown"
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


def _unknown_flag(t: _Target, flag: str, problem: str) -> Finding:
    options = t.parser["options"]
    if problem != "unknown":
        return Finding(t.step, flag, MISSING, expected=flag, where=f"{t.src}:{t.parser['line']}",
                       note=f"{t.at}: {flag} is not an option of its own, and as an abbreviation it is {problem}. "
                            "What to do: spell the option out in full in the recipe.")
    close = _closest(flag, options)
    where = f"{t.src}:{options[close[0]]['line']}" if close else f"{t.src}:{t.parser['line']}"
    dyn = (f" (the script also builds option names at run time, line {t.parser['dynamic'][0]}: check those by hand)"
           if t.parser["dynamic"] else "")
    spelled = (" argparse does not treat '-' and '_' as the same: the spelling must match exactly."
               if any(o.lstrip("-").replace("-", "_") == flag.lstrip("-").replace("-", "_") for o in close) else "")
    return Finding(t.step, flag, MISSING, expected=flag, measured=close[0] if close else None, where=where,
                   note=f"{t.at} has no option {flag} (removed or renamed?){_hint(flag, options, close)}{dyn}."
                        f"{_in_baseline(t, flag)}{spelled} What to do: rename or drop the flag in the recipe (an erratum "
                        "with a version range in recipes/errata.yaml), or pin the ref that still has it.")


def _hint(flag: str, options: dict, close: list[str]) -> str:
    if close:
        return "; closest: " + ", ".join(f"{c} (line {options[c]['line']})" for c in close)
    far = _closest(flag, options, cutoff=0.3)[:2]
    if far:
        return ("; no option has a similar name (nearest by spelling: "
                + ", ".join(f"{c} (line {options[c]['line']})" for c in far) + ", unlikely a rename)")
    return ""


def _in_baseline(t: _Target, flag: str) -> str:
    if t.base_root is None:
        return ""
    bfile, bparser = baseline_parser(t.base_root, t.rel, t.sub)
    if not bparser or flag not in bparser["options"]:
        return ""
    return (f" It is defined in the baseline at {bfile.relative_to(t.base_root).as_posix()}:"
            f"{bparser['options'][flag]['line']} ({t.base_root}).")


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
