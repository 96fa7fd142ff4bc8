"""The bottom of the package stack: what every other package may import, and nothing else.

`core.errors` (the user's-mistake exception), `core.files` (atomic writes) and
`core.constants` (the facts every stage shares: image size, rotation limit, the None class,
thresholds, network and preset names). core imports no other mindseye package.
"""

__version__ = "0.1.0"
