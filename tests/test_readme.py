"""The README's Layout section names what is in the tree, and only that."""

import os
import re

from tests.helpers import ROOT


def layout_paths():
    with open(os.path.join(ROOT, 'README.md')) as f:
        text = f.read()
    block = text.split('## Layout', 1)[1].split('```')[1]
    return [m.group(1) for m in re.finditer(r'^(\S+)\s', block, re.M)]


def test_layout_names_existing_paths():
    paths = layout_paths()
    assert 'cpwc_mmdet/conversion/' in paths and 'docs/' in paths
    for path in paths:
        assert os.path.exists(os.path.join(ROOT, path)), path


def test_every_subpackage_is_in_the_layout():
    listed = {p.rstrip('/') for p in layout_paths()}
    package = os.path.join(ROOT, 'cpwc_mmdet')
    for name in sorted(os.listdir(package)):
        if os.path.isfile(os.path.join(package, name, '__init__.py')):
            assert f'cpwc_mmdet/{name}' in listed, name


def test_readme_is_short_and_links_existing_docs():
    with open(os.path.join(ROOT, 'README.md')) as f:
        text = f.read()
    assert len(text.splitlines()) < 250
    placeholders = re.findall(r'^[A-Z][A-Z0-9]*_[A-Z0-9_]+$', text, re.M)
    assert not placeholders, placeholders  # a figure left to fill in
    links = re.findall(r'\]\(((?:docs|configs)/[^)#]+)', text)
    assert 'docs/install.md' in links
    for link in links:
        assert os.path.exists(os.path.join(ROOT, link)), link
