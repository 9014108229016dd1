"""The README hub and the pages of ``docs/``: every relative link and anchor resolves, every page is
reachable from the README, and the README stays a hub (at most 150 lines)."""

import re
from pathlib import Path
from typing import Dict, Set
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [ROOT / 'README.md', *ROOT.glob('docs/**/*.md'), *ROOT.glob('configs/**/README.md')]
)
LINK = re.compile(r'!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)\)')
HEADING = re.compile(r'^(#{1,6}) +(.*?) *#*$')


def prose(text: str) -> str:
    """The text without fenced code blocks (their ``#`` lines are comments, not headings)."""
    return re.sub(r'^```.*?^```', '', text, flags=re.S | re.M)


def github_slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading).lower()
    return re.sub(r'[^\w\- ]', '', text).replace(' ', '-')


def anchors(page: Path, cache: Dict[Path, Set[str]] = {}) -> Set[str]:
    if page not in cache:
        seen: Dict[str, int] = {}
        found = set()
        for line in prose(page.read_text(encoding='utf-8')).splitlines():
            match = HEADING.match(line)
            if match:
                slug = github_slug(match.group(2))
                found.add(slug if slug not in seen else f'{slug}-{seen[slug]}')
                seen[slug] = seen.get(slug, 0) + 1
        cache[page] = found
    return cache[page]


def relative_links(page: Path):
    for url in LINK.findall(prose(page.read_text(encoding='utf-8'))):
        if not re.match(r'[a-z]+:', url):
            yield url


def test_github_slug_follows_githubs_rules():
    assert github_slug('What `mmdet_centermask.compat` fixes') == 'what-mmdet_centermaskcompat-fixes'
    assert github_slug('Building a model: class counts') == 'building-a-model-class-counts'
    assert github_slug("Configs and mmdet's tools") == 'configs-and-mmdets-tools'


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path):
    broken = []
    for url in relative_links(page):
        path, _, anchor = unquote(url).partition('#')
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f'{url}: no such file')
        elif anchor and target.suffix == '.md' and anchor not in anchors(target):
            broken.append(f'{url}: no heading #{anchor} in {target.relative_to(ROOT)}')
    assert not broken, f'{page.relative_to(ROOT)}: ' + '; '.join(broken)


def test_every_docs_page_is_reachable_from_the_readme():
    reached, todo = set(), [ROOT / 'README.md']
    while todo:
        page = todo.pop()
        if page in reached or page.suffix != '.md' or not page.exists():
            continue
        reached.add(page)
        todo += [(page.parent / unquote(url).partition('#')[0]).resolve()
                 for url in relative_links(page) if not url.startswith('#')]
    unreached = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob('docs/**/*.md')
                       if p.resolve() not in reached)
    assert not unreached


def test_readme_is_a_hub():
    assert len((ROOT / 'README.md').read_text(encoding='utf-8').splitlines()) <= 150


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_test_file_named_exists(page: Path):
    named = set(re.findall(r'\btests/[\w/]+\.py\b', page.read_text(encoding='utf-8')))
    assert not sorted(path for path in named if not (ROOT / path).is_file())
