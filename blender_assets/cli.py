"""`mindseye assets`: build and register the 3D models (placeholder; being written)."""

import click


@click.group()
def assets() -> None:
    """Build the built-in 3D models and register your own as classes."""
