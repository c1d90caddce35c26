"""The `motionmill` command line: a table of plain functions, one per subcommand.

Every command turns bad input into a one-line `motionmill: error: ...` message and exit status 2, never a
traceback; `--debug` shows the traceback for bug reports.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["main"]


def convert(src: str, dst: str, fps: float | None = None, out_fps: float | None = None, title: str = "") -> None:
    """Convert a motion between formats chosen by file name (features .npy, .joints.npy, .bvh, .smpl.npz in;
    those plus .gif, .mp4, .html out)."""
    from motionmill.export.formats import read_motion, write_motion

    motion = read_motion(src, fps)
    if out_fps:
        motion = motion.resample(out_fps)
    write_motion(motion, dst, title=title or Path(src).name)
    print(f"{dst}: {motion.num_frames} frames, {motion.duration:.2f} s at {motion.fps:g} fps")


def demo(out: str = "outputs") -> None:
    """Run the main end-to-end job on the built-in default and write its outputs to `out`."""
    from motionmill.demo import run_demo

    run_demo(Path(out))


def _convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="input: *.npy (T,272 features), *.joints.npy, *.bvh or *.smpl.npz")
    p.add_argument("dst", help="output: *.npy, *.joints.npy, *.bvh, *.smpl.npz, *.gif, *.mp4 or *.html")
    p.add_argument("--fps", type=float, default=None, help="frame rate of .npy inputs (default 30)")
    p.add_argument("--out-fps", type=float, default=None, help="resample the output to this frame rate")
    p.add_argument("--title", default="", help="caption drawn on videos and the HTML page (default: input name)")


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="outputs", help="output folder (default: outputs)")


# name -> (function, argument builder, help). A name with a space is a subcommand of a group ("corpus build").
COMMANDS: dict[str, tuple[Callable, Callable, str]] = {
    "convert": (convert, _convert_args, "convert a motion file to another format"),
    "render": (convert, _convert_args, "alias of convert, e.g. motionmill render walk.npy walk.mp4"),
    "demo": (demo, _demo_args, "run the built-in end-to-end demo"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motionmill", description="Text-to-motion and motion corpus tools.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for name, (fn, add_args, help_text) in COMMANDS.items():
        group, _, leaf = name.rpartition(" ")
        if group and group not in groups:
            groups[group] = sub.add_parser(group, help=f"{group} commands").add_subparsers(
                dest="subcommand", required=True, metavar="SUBCOMMAND"
            )
        target = groups[group] if group else sub
        p = target.add_parser(leaf, help=help_text, description=fn.__doc__)
        add_args(p)
        p.set_defaults(_command=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    debug, command = args.pop("debug"), args.pop("_command")
    args.pop("command"), args.pop("subcommand", None)
    fn = COMMANDS[command][0]
    try:
        fn(**args)
    except (ValueError, KeyError, FileNotFoundError, ImportError, OSError) as e:
        if debug:
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"motionmill: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("motionmill: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
