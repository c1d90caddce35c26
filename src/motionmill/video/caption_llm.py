"""Optional captions from a language model: the offline description of a clip, restated naturally.

The offline captioner (`caption.py`) describes a clip from its joints: what each part does, with measured directions,
counts, turns, distances and speeds, in sentences built from templates. A vision-language model given those
measurements and a few key frames of the video can say the same thing the way a person would, and name what the joints
cannot show (the kind of action, say a dance or a tennis swing). `llm_caption` asks any OpenAI-compatible chat
endpoint (`utils/chat.py`, the same request as prompt rewriting in `text/rewrite.py`) for one caption per part, in
order, and one for the whole clip, each in square brackets. The new caption keeps the offline part spans and records
its writer as ``llm:<model>``.

It never raises for server trouble: on any failure (no answer within the timeout, an HTTP error, a body that is not a
chat completion or is larger than 1 MiB, another number of bracketed captions than asked, an empty or too long one)
the offline caption is kept unchanged and the reason returned beside it, so a corpus build goes on with the offline
captions and records why.

Key frames (`key_frames`) are decoded in one pass over the video at a small size; they are sent as JPEG data URLs,
which needs Pillow (the `render` extra). A text-only model gets the description alone (call with no frames).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence

import numpy as np

from motionmill.utils.chat import chat, describe_error, image_part, parse_bracketed_list, text_part
from motionmill.video import decode
from motionmill.video.caption import Caption

__all__ = ["SYSTEM_PROMPT", "describe_offline", "key_frames", "llm_caption"]

SYSTEM_PROMPT = (
    "You write captions of human motion clips for a motion-capture dataset. You are given a description of one clip "
    "measured from the person's 3D joints: its parts in time order, each with its time span, and a paragraph for the "
    "whole clip. Key frames of the video may follow. "
    "Rewrite each part's description as one natural sentence in the third person that starts with 'a person' and "
    "means the same: keep the measured directions, counts, turns, sides, distances and speeds, without the numbers "
    "sounding measured. You may use what you see in the frames, such as the kind of action, but never anything the "
    "measured description contradicts, and invent nothing you cannot see or read. Then write a caption of one to "
    "three sentences for the whole clip, with its actions in order. "
    "Answer with one caption per part, in order, each inside square brackets, then the whole-clip caption inside "
    "square brackets, and use no other square brackets. For example, for a clip of two parts: "
    "[a person walks backward about two metres.] [a person turns to the left.] "
    "[a person walks backward for about two metres, then turns to the left.]"
)


def key_frames(video_path: str | os.PathLike, frame_indices: Iterable[int], max_side: int = 384) -> list[np.ndarray]:
    """Decode the frames at `frame_indices` of a video in one pass: (H, W, 3) uint8 RGB arrays, longer side at most
    `max_side`, in the order of `frame_indices` (repeats allowed).

    Decoding stops at the last frame asked for, and only the frames kept are held in memory.

    Raises:
        ValueError: a negative index.
        IndexError: an index past the video's last frame.
        motionmill.video.decode.VideoError: the file cannot be read (or stops early, "truncated").
    """
    wanted = [int(i) for i in frame_indices]
    if not wanted:
        return []
    if min(wanted) < 0:
        raise ValueError(f"negative frame index {min(wanted)}")
    needed, last = set(wanted), max(wanted)
    kept: dict[int, np.ndarray] = {}
    decoded = 0
    stream = decode.frames(decode.probe(video_path, max_side=max_side))
    try:
        for index, frame in enumerate(stream):
            decoded = index + 1
            if index in needed:
                kept[index] = frame.copy()  # the decoder's arrays are read-only views of its buffers
            if index >= last:
                break
    finally:
        stream.close()  # stops ffmpeg now rather than when the generator is collected
    missing = needed - kept.keys()
    if missing:
        raise IndexError(f"{video_path}: frame {min(missing)} asked for, the video has {decoded} frames")
    return [kept[i] for i in wanted]


def describe_offline(offline: Caption) -> str:
    """The user message's text: the measured parts with their spans and actions, then the whole paragraph."""
    lines = [f"Measured description of a clip in {len(offline.parts)} part(s):"]
    for number, part in enumerate(offline.parts, 1):
        lines.append(f"{number}. {part.start:.1f}-{part.end:.1f} s, {part.action}: {part.text}")
    lines.append(f"Whole clip: {offline.text}")
    lines.append(
        f"Answer with {len(offline.parts) + 1} captions in square brackets: "
        f"{len(offline.parts)} for the parts, in order, then one for the whole clip."
    )
    return "\n".join(lines)


def llm_caption(
    offline: Caption,
    url: str,
    model: str,
    frames: Sequence[np.ndarray] = (),
    timeout: float = 10.0,
    api_key: str | None = None,
    max_chars: int = 600,
) -> tuple[Caption, str | None]:
    """Restate an offline caption through a chat model, falling back to `offline` on any failure.

    Args:
        offline: The caption measured from the joints; its part spans are kept.
        url: The server, with or without ``/v1`` and ``/chat/completions`` (`utils/chat.py`, `chat_completions_url`).
        model: The model name the server expects; the caption's writer becomes ``llm:<model>``.
        frames: Key frames of the clip in time order, (H, W, 3) uint8 RGB (`key_frames`); none for a text-only model.
        timeout: Seconds allowed for connecting and for each read; the whole exchange is abandoned after twice this.
        api_key: Sent as ``Authorization: Bearer <key>`` when given.
        max_chars: Longest accepted caption (each part's, and the whole clip's).

    Returns:
        (caption, error): the model's caption and None, or `offline` unchanged and why the answer was not used.
    """
    count = len(offline.parts) + 1
    try:
        text = describe_offline(offline)
        if frames:
            note = f"\n{len(frames)} key frame(s) of the clip follow, in time order."
            content: str | list[dict] = [text_part(text + note), *(image_part(frame) for frame in frames)]
        else:
            content = text  # plain text: servers of text-only models may not accept the list form
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]
        # room for every caption at its longest (about 3 characters a token), so a long answer fails as too long
        # rather than as cut off with a bracket missing
        answer = chat(messages, url, model, timeout, api_key, max_tokens=64 + count * (max_chars // 3 + 1))
        texts = parse_bracketed_list(answer, count, max_chars)
    except Exception as err:  # any failure keeps the offline caption, by design
        return offline, describe_error(err)
    parts = tuple(dataclasses.replace(part, text=new) for part, new in zip(offline.parts, texts[:-1], strict=True))
    return Caption(text=texts[-1], parts=parts, captioner=f"llm:{model}"), None
