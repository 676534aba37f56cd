import os

from setuptools import find_packages, setup


def read_version():
    namespace = {}
    with open('cpwc_mmdet/version.py') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def extensions():
    """The CPU kernels (CPWC's fused context unit, CoC's weight
    derivation), built against the installed torch.

    One extension module per instruction set, ``_cpu_kernels_<isa>``, each
    compiled from the same sources with its own target flags and none with
    ``-march=native``, so a build works on any x86-64 CPU, whichever CPU
    built it; ``cpwc_mmdet/ops/cpu_kernels.py`` imports the best one the
    CPU runs. Separate modules, not one module with per-ISA files: an inline
    function of a shared header compiled with AVX-512 flags could otherwise
    be the copy the linker keeps for the portable path.

    Optional: if torch is absent or the compiler fails, the package still
    installs and the layers run their pure-PyTorch paths (the tests fail if the
    build for the machine's best ISA is missing). CPWC_NO_EXT=1 skips it.
    """
    import platform

    if os.environ.get('CPWC_NO_EXT') == '1':
        return [], {}
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:
        return [], {}
    isa_flags = {'scalar': []}  # the compiler's baseline (x86-64: SSE2)
    if platform.machine().lower() in ('x86_64', 'amd64'):
        isa_flags['avx2'] = ['-mavx2', '-mfma']
        isa_flags['avx512'] = [
            '-mavx512f',
            '-mavx512bw',
            '-mavx512dq',
            '-mavx512vl',
            '-mavx2',
            '-mfma',
        ]
    # -fopenmp: at::parallel_for is OpenMP, inlined into the kernel; the
    # libgomp it links is the one torch has already loaded.
    # -fvisibility=hidden: each module keeps its copies of inline functions.
    # -g0: no debug information (Python's -g makes the build a third longer)
    common = [
        '-O3',
        '-g0',
        '-fopenmp',
        '-fvisibility=hidden',
        '-fvisibility-inlines-hidden',
    ]
    exts = [
        CppExtension(
            f'cpwc_mmdet.ops._cpu_kernels_{isa}',
            [f'cpwc_mmdet/ops/csrc/cpu_kernels_{isa}.cpp'],
            depends=[
                'cpwc_mmdet/ops/csrc/cpwc_context.cpp',
                'cpwc_mmdet/ops/csrc/coc_weight.cpp',
                'cpwc_mmdet/ops/csrc/bindings.cpp',
            ],
            extra_compile_args=common + flags,
            extra_link_args=['-fopenmp'],
            optional=True,
        )
        for isa, flags in isa_flags.items()
    ]
    return exts, {'build_ext': BuildExtension.with_options(use_ninja=False)}


ext_modules, cmdclass = extensions()
setup(
    name='cpwc_mmdet',
    version=read_version(),
    description='CPWC and CoC convolutions for MMDetection 3.x',
    long_description=read_readme(),
    long_description_content_type='text/markdown',
    keywords='computer vision, object detection, convolution, mmdetection',
    packages=find_packages(include=['cpwc_mmdet', 'cpwc_mmdet.*']),
    python_requires='>=3.8',
    # The ranges the code supports. mmcv's ops must be built against the
    # installed torch, so tools/setup_env.sh installs the stack in order
    # (see README); these lines let pip check what is there.
    install_requires=[
        'torch>=2.1',
        'torchvision',
        'numpy<2',  # as requirements/constraints.txt (mmcv 2.1 / mmdet 3.3)
        'mmengine>=0.7.1,<1.0',
        'mmcv>=2.0.0,<2.2.0',
        'mmdet>=3.0.0,<3.4.0',
        'pycocotools',
        'matplotlib',
    ],
    extras_require={
        # ImageNet pre-training of the backbones with mmpretrain
        'pretrain': ['mmpretrain>=1.0.0,<1.3.0'],
        'tests': ['pytest', 'ruff', 'onnx', 'onnxruntime'],
        # tools/deployment/export_onnx.py
        'deploy': ['onnx', 'onnxruntime'],
    },
    classifiers=[
        'Development Status :: 4 - Beta',
        'Intended Audience :: Developers',
        'Intended Audience :: Science/Research',
        'Operating System :: POSIX :: Linux',
        'Programming Language :: C++',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3 :: Only',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
        'Topic :: Scientific/Engineering :: Image Recognition',
    ],
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
