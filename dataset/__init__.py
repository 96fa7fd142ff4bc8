"""Rendered datasets: the HDF5 shard format and manifest (`shards`, `manifest`), background
sources (`backgrounds`), numpy compositing (`composite`), torch datasets and the `mindseye dataset`
command (`cli`). Nothing here imports bpy."""
