import os

from setuptools import find_packages, setup


def read_version():
    namespace = {}
    with open('cpwc_mmdet/version.py') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def extensions():
    """The fused CPWC context kernel (CPU), built against the installed torch.

    Optional: if torch is absent or the compiler fails, the package still
    installs and CPWConv2d runs its pure-PyTorch path. CPWC_NO_EXT=1 skips it.
    """
    if os.environ.get('CPWC_NO_EXT') == '1':
        return [], {}
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:
        return [], {}
    # -fopenmp: at::parallel_for is OpenMP, inlined into this file; the
    # libgomp it links is the one torch has already loaded
    flags = ['-O3', '-march=' + os.environ.get('CPWC_MARCH', 'native')]
    ext = CppExtension(
        'cpwc_mmdet.ops._cpwc_context', ['cpwc_mmdet/ops/csrc/cpwc_context.cpp'],
        extra_compile_args=flags + ['-fopenmp'], extra_link_args=['-fopenmp'],
        optional=True)
    return [ext], {'build_ext': BuildExtension.with_options(use_ninja=False)}


ext_modules, cmdclass = extensions()
setup(
    name='cpwc_mmdet',
    version=read_version(),
    description='CPWC and CoC convolutions for MMDetection 3.x',
    packages=find_packages(include=['cpwc_mmdet', 'cpwc_mmdet.*']),
    python_requires='>=3.8',
    # The OpenMMLab stack needs an ordered, partly from-source install:
    # tools/setup_env.sh does it (see README).
    install_requires=[],
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
