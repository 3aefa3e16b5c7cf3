"""Reading a served sequence back into the state machine's steps: the model's choice at each position, given the
generated ids and (when the server returned them) each position's most likely token. A single call does not say
which "Wait" the server forced, so :class:`SingleCallChoices` takes a set of positions to be forced ignore strings
(from :func:`ignore_starts`), and the replay raises :class:`Diverged` when that reading cannot be right."""

from __future__ import annotations

from typing import Any

from s1lib.forcing.policy import CompiledPolicy
from s1lib.forcing.state import ForcingState


class OutOfChoices(Exception):
    pass


class Diverged(Exception):
    def __init__(self, position: int):
        self.position = position


class SingleCallChoices:
    """The model's choices behind one served sequence: the token at each position, except at positions taken
    to be forced ignore strings, where the model must have attempted to end thinking."""

    def __init__(self, compiled: CompiledPolicy, generated: list[int], forced: set[int]):
        self.generated = generated
        self.forced = forced
        self.end_attempt = compiled.think_end_ids[0]

    def __call__(self, state: ForcingState, banned: frozenset[int]) -> int:
        position = len(state.generated)
        if position >= len(self.generated):
            raise OutOfChoices
        if position in self.forced and not banned:
            return self.end_attempt
        token = self.generated[position]
        if token in banned:  # the model's choice is never a banned token: this reading is wrong
            raise Diverged(position)
        return token


class GreedyChoices:
    """The model's choices behind a greedy served sequence: its most likely token, except where the policy
    banned that (a suppression without an ignore string), where the served token is the model's next best."""

    def __init__(self, generated: list[int], top_ids: list[int]):
        self.generated = generated
        self.top_ids = top_ids

    def __call__(self, state: ForcingState, banned: frozenset[int]) -> int:
        position = len(state.generated)
        if position >= len(self.generated):
            raise OutOfChoices
        top = self.top_ids[position]
        return self.generated[position] if top in banned else top


def most_likely_ids(choice: dict[str, Any]) -> list[int] | None:
    """The most likely token id at each position from a completion's ``logprobs`` (ids as ``token_id:N``)."""
    try:
        tops = choice["logprobs"]["top_logprobs"]
        return [int(max(top.items(), key=lambda item: item[1])[0].removeprefix("token_id:")) for top in tops]
    except (KeyError, TypeError, ValueError):
        return None  # no usable logprobs: the replay infers the forced ignore strings instead


def ignore_starts(compiled: CompiledPolicy, generated: list[int]) -> list[int]:
    """Positions where one of the ignore strings' ids begins (the candidates for a forced Wait); with no ignore
    string a suppression leaves no mark, and every position is a candidate."""
    if not any(compiled.ignore_ids):
        return list(range(len(generated)))
    starts = []
    for position in range(len(generated)):
        if any(ids and generated[position : position + len(ids)] == list(ids) for ids in compiled.ignore_ids):
            starts.append(position)
    return starts
