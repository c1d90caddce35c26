"""Reading other projects' released checkpoints without running their code, and loading them into our modules.

`read_state_dict` opens a `.safetensors` file, or a torch file with `weights_only=True` (tensors and plain
containers only); a file that needs more (a Lightning checkpoint whose hyper-parameters pickle OmegaConf objects) is
refused with the one-line command that extracts its state dict where the user trusts it. `load_renamed` loads a
released state dict into one of our modules through a key mapping, and names keys as the released file does when
they do not fit.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["load_renamed", "read_state_dict"]


def read_state_dict(path: str | Path, what: str = "checkpoint", entry: str | None = None, mmap: bool = False):
    """A checkpoint read without running code: .safetensors, or a torch file loaded with weights_only=True.

    Args:
        path: the file.
        what: what it is, for the error of a missing file ("generator checkpoint").
        entry: the key of the weights in the file, for the extraction command an error gives (default: the
            Lightning "state_dict" entry, or the whole object).
        mmap: memory-map a torch file instead of reading it (torch.save's zip format only).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" not in str(e):
            raise ValueError(f"{path}: not a torch checkpoint ({str(e).splitlines()[0]})") from None
        culprit = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        weights = f"c[{entry!r}]" if entry else "c.get('state_dict', c)"
        command = (f"python -c \"import torch; c = torch.load('{path}', weights_only=False); "
                   f"torch.save({weights}, '{path.with_suffix('.weights.pt')}')\"")  # fmt: skip
        raise ValueError(f"{path} holds more than tensors and plain containers ({culprit[1] if culprit else 'objects'}"
                         "), so it is not unpickled here. Extract its state dict where you trust the file, then pass "
                         f"the new file; to extract its weights: {command}") from None  # fmt: skip
    except (RuntimeError, OSError, EOFError) as e:  # torch names the fix for a legacy file in a long sentence
        legacy = "mmap can only be used" in str(e)
        why = "not in torch.save's zip format, which memory mapping needs" if legacy else str(e).splitlines()[0]
        kind = "a torch checkpoint that can be memory-mapped" if mmap else "a torch checkpoint"
        raise ValueError(f"{path}: not {kind}: {why}") from None


def load_renamed(net: torch.nn.Module, tensors: dict[str, torch.Tensor], rename: Callable[[str], str | None],
                  released_name: Callable[[str], str], what: str) -> None:  # fmt: skip
    """Load `tensors` into `net` after renaming (None drops a key); errors name keys as the released file does."""
    ours, origin, unexpected = {}, {}, []
    for key, value in tensors.items():
        name = rename(key)
        if name is None:
            unexpected.append(key)
        else:
            ours[name], origin[name] = value, key
    expected = net.state_dict()
    missing = sorted(released_name(k) for k in expected.keys() - ours.keys())
    unexpected = sorted(unexpected + [origin[k] for k in ours.keys() - expected.keys()])
    shapes = [f"{released_name(k)}: {tuple(v.shape)} != {tuple(expected[k].shape)}"
              for k, v in ours.items() if k in expected and v.shape != expected[k].shape]  # fmt: skip
    if missing or unexpected or shapes:
        raise ValueError(f"{what} does not match the expected layout:\n  missing keys: {missing}\n"
                         f"  unexpected keys: {unexpected}\n  shape mismatches: {shapes}")  # fmt: skip
    net.load_state_dict({k: v.float() for k, v in ours.items()})
