from setuptools import find_packages, setup


def read_version():
    namespace = {}
    with open('cpwc_mmdet/version.py') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='cpwc_mmdet',
    version=read_version(),
    description='CPWC and CoC convolutions for MMDetection 3.x',
    packages=find_packages(include=['cpwc_mmdet', 'cpwc_mmdet.*']),
    python_requires='>=3.8',
    # The OpenMMLab stack needs an ordered, partly from-source install:
    # tools/setup_env.sh does it (see README).
    install_requires=[],
)
