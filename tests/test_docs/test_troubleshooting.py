"""``docs/troubleshooting.md``: every entry has a cause, a fix and a test, and every test it names
exists in ``tests/``."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / 'docs' / 'troubleshooting.md'


def entries():
    """(symptom, [cause, fix, test lines]) of each entry: a bold line and its bullet list."""
    blocks = re.findall(r'^\*\*(.+?)\*\*\n\n((?:- .*\n?)+)', PAGE.read_text(encoding='utf-8'), re.M)
    return [(symptom, body.strip().splitlines()) for symptom, body in blocks]


def test_every_entry_has_a_cause_a_fix_and_a_test():
    found = entries()
    assert len(found) >= 60
    for symptom, lines in found:
        assert [line.split(':')[0] for line in lines] == ['- Cause', '- Fix', '- Test'], symptom


def test_every_named_test_exists():
    defined = set()
    for path in (ROOT / 'tests').rglob('test_*.py'):
        defined |= set(re.findall(r'^(?:async )?def (test_\w+)', path.read_text(), re.M))
    missing = []
    for symptom, lines in entries():
        named = re.findall(r'`(test_\w+)(?:\[[^\]]*\])?`', lines[2])
        assert named, f'no test named for: {symptom}'
        missing += [name for name in named if name not in defined]
    assert not missing
