"""Rendered datasets: what sample i of a split is (`samples`), the HDF5 shard format and manifest
(`shards`, `manifest`, checked by `verify`), background sources (`backgrounds`), numpy compositing
(`composite`), torch datasets and the `mindseye dataset` command (`cli`). Nothing here imports
bpy."""
