"""The package's shape: which folder may import which, what importing the
plugin does to the framework, and where imports may hide."""

import ast
import pathlib
import subprocess
import sys
from collections import defaultdict

from tests.helpers import ROOT

PACKAGE = pathlib.Path(ROOT) / 'cpwc_mmdet'

#: the package's folders, bottom floor first: a module may import its own
#: folder and the floors below its own, never a folder on its floor or above
FLOORS = (
    ('ops', 'utils'),
    ('layers', 'datasets', 'visualization'),
    ('conversion', 'engine'),
    ('backbones',),
    ('roi_heads',),
    ('reproduce',),
    ('cli',),  # the top: its preflight reads the table registry
)
FLOOR = {folder: i for i, folders in enumerate(FLOORS) for folder in folders}
#: modules imported inside a function on purpose: they need an optional
#: dependency (Triton, torch >= 2.4), which the first CUDA call loads
LAZY_OPTIONAL_MODULES = {'triton_context'}


def folder_of(path: pathlib.Path) -> str:
    """The package folder a source file lives in ('' for the top)."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else ''


def package_imports(path: pathlib.Path):
    """(line, imported folder, inside a function) of every import of the
    package's own modules in ``path``."""
    tree = ast.parse(path.read_text())
    in_function = set()
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(n) for n in ast.walk(func))
    package = ['cpwc_mmdet', *path.relative_to(PACKAGE).parent.parts]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = '.'.join(
                    base + ([node.module] if node.module else [])
                )
                names = [module + '.' + a.name for a in node.names]
            else:
                module = node.module or ''
                names = [module + '.' + a.name for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split('.')
            if parts[0] == 'cpwc_mmdet' and len(parts) > 1:
                target = parts[1] if parts[1] in FLOOR else ''
                yield node.lineno, target, id(node) in in_function, name


def test_every_folder_has_a_floor():
    folders = {
        p.name
        for p in PACKAGE.iterdir()
        if p.is_dir() and (p / '__init__.py').exists()
    }
    assert folders == set(FLOOR)


def test_no_import_goes_up_or_sideways():
    """``ops`` and ``utils`` import nothing of the package but themselves;
    every other folder imports only itself and the floors below."""
    wrong = []
    for path in PACKAGE.rglob('*.py'):
        here = folder_of(path)
        if not here:
            continue  # the top: __init__ registers everything
        for line, target, _, name in package_imports(path):
            if target and target != here and FLOOR[target] >= FLOOR[here]:
                wrong.append(f'{path.relative_to(ROOT)}:{line} {name}')
    assert wrong == []


def test_no_folder_pair_imports_both_ways():
    edges = defaultdict(set)
    for path in PACKAGE.rglob('*.py'):
        here = folder_of(path)
        for _, target, _, _ in package_imports(path):
            if here and target and target != here:
                edges[here].add(target)
    both = sorted(
        (a, b)
        for a in sorted(edges)
        for b in edges[a]
        if a < b and a in edges.get(b, ())
    )
    assert both == []


def test_utils_import_no_model_code():
    """``cpwc_mmdet.utils`` is tooling: importing all of it loads none of
    the layers, backbones, heads, conversion, engine or ops."""
    modules = sorted(
        p.stem
        for p in (PACKAGE / 'utils').glob('*.py')
        if p.stem != '__init__'
    )
    code = (
        'import sys, types\n'
        'pkg = types.ModuleType("cpwc_mmdet")\n'
        f'pkg.__path__ = [{str(PACKAGE)!r}]\n'
        'sys.modules["cpwc_mmdet"] = pkg\n'
        'import importlib\n'
        f'for m in {modules!r}:\n'
        '    importlib.import_module("cpwc_mmdet.utils." + m)\n'
        'print(sorted(m for m in sys.modules if m.startswith("cpwc_mmdet.")'
        ' and not m.startswith("cpwc_mmdet.utils")))'
    )
    # importing cpwc_mmdet.utils runs cpwc_mmdet/__init__.py first, which
    # registers everything; so the package is stood in for
    out = subprocess.run(
        [sys.executable, '-c', code], text=True, capture_output=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == '[]', out.stdout


def test_ops_import_nothing_else_of_the_package_nor_openmmlab():
    """The bottom floor is pure: tensors and ints in, tensors out."""
    code = (
        'import sys, types\n'
        'pkg = types.ModuleType("cpwc_mmdet")\n'
        f'pkg.__path__ = [{str(PACKAGE)!r}]\n'
        'sys.modules["cpwc_mmdet"] = pkg\n'
        'import cpwc_mmdet.ops\n'
        'print(sorted(m for m in sys.modules if m.startswith(("mmdet", "mmcv", "mmengine", "mmpretrain", '
        '"cpwc_mmdet.")) and not m.startswith("cpwc_mmdet.ops")))'
    )
    out = subprocess.run(
        [sys.executable, '-c', code], text=True, capture_output=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == '[]', out.stdout


def test_importing_the_plugin_changes_no_framework_behaviour():
    """``import cpwc_mmdet`` registers modules and allow-lists mmengine's
    checkpoint types, nothing else: mmengine's file backends (and the
    prefixes that pick them) are the same objects before and after, and no
    torch.library op is defined until a CUDA tensor asks for one."""
    code = (
        'import mmengine.fileio.backends.registry_utils as r\n'
        'import torch\n'
        'before = (dict(r.backends), dict(r.prefix_to_backends))\n'
        'import cpwc_mmdet\n'
        'after = (dict(r.backends), dict(r.prefix_to_backends))\n'
        'print(before == after, "cpwc_mmdet.ops.triton_context" in '
        'sys.modules, hasattr(torch.ops.cpwc, "context_unit"))\n'
    )
    out = subprocess.run(
        [sys.executable, '-c', 'import sys\n' + code],
        text=True,
        capture_output=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == ['True', 'False', 'False'], out.stdout


def test_no_package_import_hides_inside_a_function():
    """Imports of the package's own modules sit at module level (a local
    import is how an import circle hides), but for the optional-backend
    modules named in LAZY_OPTIONAL_MODULES."""
    hidden = [
        f'{path.relative_to(ROOT)}:{line}'
        for path in PACKAGE.rglob('*.py')
        for line, _, inside, name in package_imports(path)
        if inside
        and name.split('.')[-1] not in LAZY_OPTIONAL_MODULES
        and not set(name.split('.')) & LAZY_OPTIONAL_MODULES
    ]
    assert hidden == []
