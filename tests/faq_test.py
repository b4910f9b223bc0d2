"""Every error keras_sam and the `keras-sam` command give has its entry in docs/faq.md.

The messages are read with `ast` from `keras_sam/` (the library),
`keras_sam_bench/` (the benchmark) and `keras_sam_cli/` (the command line):
each `raise SomeError("...")` (and the benchmark's `BadInput`), each
`fail("...")` the command prints, and each message built first and assigned
to a variable named `message` (such as the line after Ctrl-C). A `raise` that
passes on a message made elsewhere (`BadInput(str(error))`,
`UsageError(message)`, `fail(backends.missing(...))`) is covered where that message is made. The start of each message must appear
on one line of the FAQ: its literal text up to its first placeholder, cut at
60 characters; where that is shorter than 12 characters (a message that
begins with a value, such as the class name) the placeholders and the
literal text that follows are matched too. A new error without an FAQ
entry fails here.
"""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
FAQ = ROOT / "docs" / "faq.md"
PACKAGES = [ROOT / "keras_sam", ROOT / "keras_sam_bench", ROOT / "keras_sam_cli"]
RAISED = ("BadInput",)  # raised for the user, without the "Error" suffix
PRINTED = ("fail",)  # keras_sam_cli.fail prints its message as the error line
MIN_LITERAL, MAX_LITERAL = 12, 60
VALUE = r"[^\n]+?"  # what a placeholder stands for in a quoted message


def source_files():
    return sorted(path for package in PACKAGES for path in package.rglob("*.py"))


def _string_parts(node):
    """A string or f-string as `[(literal or None), ...]`; None marks a placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value if isinstance(v, ast.Constant) else None for v in node.values]
    return None


def _passed_on(node):
    """Whether a message argument passes on one made elsewhere.

    A name (`UsageError(message)`), `str(error)`, or a call of a function that
    makes the message (`fail(backends.missing(...))`, which assigns it to
    `message` there).
    """
    return isinstance(node, (ast.Name, ast.Call))


def _name(func):
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _messages(tree):
    """`[(line, kind, message node)]` for the messages in one module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            name = _name(node.exc.func)
            if name.endswith("Error") or name in RAISED:
                found.append((node.lineno, name, node.exc.args[0] if node.exc.args else None))
        elif isinstance(node, ast.Call) and _name(node.func) in PRINTED and node.args:
            found.append((node.lineno, "printed", node.args[0]))
        elif isinstance(node, ast.Assign) and any(
                getattr(target, "id", None) == "message" for target in node.targets):
            found.append((node.lineno, "message", node.value))
    return found


def message_start(parts):
    """A regex for the start of a message, from its parts."""
    pattern = ""
    for part in parts:
        if part is None:
            pattern += VALUE
            continue
        if len(part.strip()) >= MIN_LITERAL:
            return pattern + re.escape(part[:MAX_LITERAL].rstrip())
        pattern += re.escape(part)
    return pattern


def raised_messages():
    """`[(where, pattern)]` for every error raised with a message."""
    found = []
    for path in source_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, kind, message in _messages(tree):
            where = f"{path.relative_to(ROOT)}:{line} {kind}"
            if message is not None and _passed_on(message):
                continue
            parts = _string_parts(message)
            assert parts, f"{where}: give the error a literal message"
            found.append((where, message_start(parts)))
    return found


def missing_entries(faq_text):
    lines = faq_text.splitlines()
    return [
        (where, pattern) for where, pattern in raised_messages()
        if not any(re.search(pattern, line) for line in lines)
    ]


def test_every_raised_error_has_an_faq_entry():
    missing = missing_entries(FAQ.read_text())
    assert not missing, "no entry in docs/faq.md for:\n" + "\n".join(
        f"  {where}: {pattern}" for where, pattern in missing
    )


def test_the_parser_finds_the_errors():
    messages = raised_messages()
    assert len(messages) >= 40
    patterns = [pattern for _, pattern in messages]
    start = "Argument `sync_perturbation` must be True or False. Received: "
    assert re.escape(start[:MAX_LITERAL].rstrip()) in patterns
    # A message that starts with a value keeps the text after it.
    assert any(p.startswith(VALUE + re.escape(" must implement")) for p in patterns)
    # The benchmark's and the command line's messages are read too.
    wheres = " ".join(where for where, _ in messages)
    for module in ("keras_sam_bench/store.py", "keras_sam_bench/command.py",
                   "keras_sam_bench/runner.py", "keras_sam_cli/arguments.py",
                   "keras_sam_cli/backends.py", "keras_sam_cli/__init__.py"):
        assert module in wheres, module
    for start in ("output folder", "--resume: the arguments differ from the interrupted",
                  "interrupted; every finished run is saved in"):
        assert any(p.startswith(re.escape(start)) for p in patterns), start
    assert re.escape("variant ") + VALUE + re.escape(": unexpected keyword argument") in patterns
    assert "message" in wheres and "BadInput" in wheres


def test_what_the_scanner_reads():
    source = """
def f(error, args):
    raise BadInput(f"--batch-size {args.batch_size} exceeds the training examples")
    raise BadInput(str(error)) from None
    raise UsageError(error)
    message = f"interrupted; the runs are saved in {args.output}"
    return fail(f"a benchmark on the {args.backend} backend needs more")
    return fail(backends.missing(args.backend))
"""
    found = [(kind, parts) for _, kind, node in _messages(ast.parse(source))
             if not _passed_on(node) for parts in [_string_parts(node)]]
    assert found == [
        ("BadInput", ["--batch-size ", None, " exceeds the training examples"]),
        ("message", ["interrupted; the runs are saved in ", None]),
        ("printed", ["a benchmark on the ", None, " backend needs more"]),
    ]


def test_a_removed_entry_is_reported():
    text = FAQ.read_text()
    line = "ValueError: Argument `decoupled` must be True or False."
    assert line in text
    without = "\n".join(l for l in text.splitlines() if line not in l)
    missing = missing_entries(without)
    assert len(missing) == 1 and "keras_sam/variants/wsam.py" in missing[0][0]
