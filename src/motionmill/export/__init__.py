"""Exporters: BVH, glTF/GLB, SMPL npz, GIF/MP4 rendering (`render`) and the self-contained HTML viewer (`html`).

Import the submodule you need (`from motionmill.export.render import write_gif`); nothing is imported here, so
optional dependencies such as Pillow load only when a renderer runs.
"""
