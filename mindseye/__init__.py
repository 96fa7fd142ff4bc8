"""mindseye: 3D models -> rendered data -> analysis-by-synthesis classifiers -> robustness report.

This package is the top of the stack: the `mindseye` command and the pipeline that strings the
stages together. The work lives in the packages below it, `blender_assets`, `render`, `dataset`,
`models`, `attacks` and `eval`, which share `core` (docs/architecture.md).
"""

from core import __version__

__all__ = ["__version__"]
