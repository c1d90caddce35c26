"""Motion files and pages: BVH (`bvh.py`), formats chosen by file name (`formats.py`: features, joints, SMPL npz and
the rest), GIF/MP4 rendering (`render.py`), the self-contained HTML player (`html.py`) and the prompts report with
its rating forms (`report.py`).

Import the submodule you need (`from motionmill.export.render import write_gif`); nothing is imported here, so
optional dependencies such as Pillow load only when a renderer runs.
"""
