"""mindseye: 3D models -> rendered data -> analysis-by-synthesis classifiers -> robustness report.

This package is the top of the stack: the `mindseye` command, the pipeline that strings the
stages together, and `load_classifier`, the entry point for attack libraries
(mindseye/classifier.py). The work lives in the packages below it, `blender_assets`, `render`,
`dataset`, `models`, `attacks` and `eval`, which share `core` (docs/architecture.md).
"""

from mindseye.core import __version__

__all__ = ["__version__", "load_classifier", "test_images"]


def __getattr__(name: str):
    # `mindseye.load_classifier` without importing torch for every `mindseye --help`.
    if name in ("load_classifier", "test_images"):
        from mindseye import classifier

        return getattr(classifier, name)
    raise AttributeError(f"module 'mindseye' has no attribute {name!r}")
