"""A tiny real dataset, rendered by the real driver (headless Blender in a child process)."""

from pathlib import Path

TINY = {"per_class": 64, "test_per_class": 16, "shard_size": 64, "seed": 7}


def render_tiny(data_dir: Path, workers: int = 1, **overrides: object) -> Path:
    from render.driver import render_dataset
    from render.settings import render_settings

    render_dataset(data_dir, render_settings("demo", **{**TINY, **overrides}), workers=workers)
    return data_dir
