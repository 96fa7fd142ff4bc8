"""mindseye: 3D models -> rendered data -> analysis-by-synthesis classifiers -> robustness report.

This package holds only what ties the others together: the `mindseye` command and the shared
error type. The work lives in the top-level packages `blender_assets`, `render`, `dataset`,
`models`, `attacks` and `eval` (see DESIGN.md).
"""

__version__ = "0.1.0"
