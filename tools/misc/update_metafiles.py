"""Write configs/cpwc/metafile.yml and configs/coc/metafile.yml from the
table registry and the census (``cpwc_mmdet.reproduce.metafiles``).

Usage::

    python tools/misc/update_metafiles.py            # count and write
    python tools/misc/update_metafiles.py --check    # exit 1 if they differ

Counting every detector's FLOPs takes minutes on a CPU; ``--keep-counts``
takes Parameters and FLOPs from the files as they are (when only the
registry or the configs' recipes changed).
"""

import os
import sys

import yaml

import cpwc_mmdet  # noqa: F401  (registers the modules)
from cpwc_mmdet.cli import ArgumentParser
from cpwc_mmdet.reproduce.metafiles import (
    COLLECTIONS,
    count_config,
    folder_configs,
    metafile_text,
)
from cpwc_mmdet.utils.atomic_files import atomic_write

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def recorded_counts(path: str) -> dict:
    """config -> (Parameters, FLOPs or None) as the metafile records them."""
    with open(path) as f:
        models = yaml.safe_load(f)['Models']
    return {
        m['Config']: (m['Metadata']['Parameters'], m['Metadata'].get('FLOPs'))
        for m in models
    }


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true')
    parser.add_argument('--keep-counts', action='store_true')
    args = parser.parse_args(argv)
    stale = []
    for folder in COLLECTIONS:
        path = os.path.join(ROOT, 'configs', folder, 'metafile.yml')
        configs = folder_configs(ROOT, folder)
        if args.keep_counts or args.check:
            counts = recorded_counts(path)
            missing = [c for c in configs if c not in counts]
            counts.update({c: count_config(ROOT, c) for c in missing})
        else:
            counts = {c: count_config(ROOT, c) for c in configs}
        text = metafile_text(ROOT, folder, counts)
        with open(path) as f:
            current = f.read()
        if text != current:
            stale.append(path)
            if not args.check:
                atomic_write(text, path)
                print(f'wrote {path}')
    if args.check and stale:
        print('not derived from the registry: ' + ', '.join(stale))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
