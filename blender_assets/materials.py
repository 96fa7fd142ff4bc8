"""The material convention of an asset: Principled BSDF materials with a grey Base Color.

bpy is imported inside `grey_material` only, so the renderer's parent process (which must not
load Blender) can import DEFAULT_GREY.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import bpy

# The grey (linear, 0..1) of a part that carries no colour of its own: `assets add` gives it to
# imported parts without a material, and the renderer to a material whose surface shader has no
# colour input (or to an empty material slot), so a model shades the same whichever path it took.
# A mid grey: shaded by ambient 0.3 + diffuse 0.7 it spans 46..153 of 255, clear of both ends.
DEFAULT_GREY = 0.6


def grey_material(name: str, grey: float) -> bpy.types.Material:
    """A new Principled BSDF material whose Base Color is `grey` (linear, 0..1)."""
    import bpy

    material = bpy.data.materials.new(name)
    material.use_nodes = True
    principled = material.node_tree.nodes["Principled BSDF"]
    principled.inputs["Base Color"].default_value = (grey, grey, grey, 1.0)
    principled.inputs["Roughness"].default_value = 0.6
    # Workbench and the viewport use diffuse_color, not the node tree.
    material.diffuse_color = (grey, grey, grey, 1.0)
    return material
