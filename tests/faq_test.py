"""Every error keras_sam raises has its entry in docs/faq.md.

Each `raise SomeError("...")` in `keras_sam/` (outside the benchmark,
`keras_sam/bench/`, and the command line, `keras_sam/cli.py`) is read with
`ast`; the start of its message must appear on one line of the FAQ. The
start is the message's literal text up to its first placeholder, cut at
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
PACKAGE = ROOT / "keras_sam"
EXCLUDED = [PACKAGE / "bench", PACKAGE / "cli.py"]
MIN_LITERAL, MAX_LITERAL = 12, 60
VALUE = r"[^\n]+?"  # what a placeholder stands for in a quoted message


def source_files():
    return sorted(
        path for path in PACKAGE.rglob("*.py")
        if not any(path == ex or ex in path.parents for ex in EXCLUDED)
    )


def _message_parts(call):
    """The message as `[(literal or None), ...]`; None marks a placeholder."""
    if not call.args:
        return None
    message = call.args[0]
    if isinstance(message, ast.Constant) and isinstance(message.value, str):
        return [message.value]
    if isinstance(message, ast.JoinedStr):
        return [v.value if isinstance(v, ast.Constant) else None
                for v in message.values]
    return None


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
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if not name.endswith("Error"):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno} {name}"
            parts = _message_parts(node.exc)
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
    assert not any("bench" in where or "cli.py" in where for where, _ in messages)


def test_a_removed_entry_is_reported():
    text = FAQ.read_text()
    line = "ValueError: Argument `decoupled` must be True or False."
    assert line in text
    without = "\n".join(l for l in text.splitlines() if line not in l)
    missing = missing_entries(without)
    assert len(missing) == 1 and "keras_sam/variants/wsam.py" in missing[0][0]
