"""Seed groups: the same recipe trained over several seeds, and the sides a comparison puts against each other.

A run trained as part of a group records the group's id in run.json (`group`, validated by schema.py);
a group is every readable run that names it. A *side* of a comparison is one run or one whole group,
so a single run and a group are compared by the same rule (significance.py).
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from resnet_mnist.runs.comparison import differing_hparams, recipe_label
from resnet_mnist.runs.store import RunInfo, RunNotFoundError

__all__ = ["MAX_SEEDS", "Side", "labelled", "new_group_id", "parse_seeds", "resolve_side", "sides_of"]

MAX_SEEDS = 20  # a group is trained one seed after another; 20 is already a long wait, and plenty to tell noise
_GROUP_ID = re.compile(r"^g-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


def new_group_id() -> str:
    """A unique, time-ordered group id that cannot be mistaken for a run id (runs start with a digit)."""
    return f"g-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def parse_seeds(text: str) -> tuple[int, ...]:
    """'1,2,3' or '1-3' → (1, 2, 3); ValueError with one sentence for anything else (or too many, or repeats)."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        low, dash, high = part.partition("-")
        try:
            values = range(int(low), int(high) + 1) if dash else [int(part)]
        except ValueError:
            raise ValueError(f"{part!r} is not a seed (a whole number) or a range of seeds (1-3)") from None
        if dash and not values:
            raise ValueError(f"the range {part} runs backwards; write it low-high")
        if len(values) > MAX_SEEDS:
            raise ValueError(f"at most {MAX_SEEDS} seeds (got {part})")
        seeds += values
    if not seeds:
        raise ValueError("no seeds given")
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"at most {MAX_SEEDS} seeds (got {len(seeds)})")
    if len(set(seeds)) != len(seeds):
        raise ValueError("a seed is listed twice; each seed gives the same run again")
    if any(s < 0 for s in seeds):
        raise ValueError("seeds must be 0 or more")
    return tuple(seeds)


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a single run (`group` None) or every run of a seed group."""

    key: str  # the run id or the group id
    label: str
    runs: tuple[RunInfo, ...]
    group: str | None = None

    @property
    def final_accuracies(self) -> list[float]:
        """Each run's final test accuracy (0..1); runs that ended before their first test are left out."""
        return [r.final_accuracy for r in self.runs if r.final_accuracy is not None]

    @property
    def seeds(self) -> list[int]:
        return [r.config.seed for r in self.runs]


def _group_side(group: str, members: Sequence[RunInfo]) -> Side:
    return Side(key=group, label=group, runs=tuple(sorted(members, key=lambda r: r.id)), group=group)


def _name(side: Side) -> str:
    """The name a person gave the run or group ('' when none): a group's runs are named '<name> · seed N'."""
    name = side.runs[0].name
    if side.group:
        name = name.rsplit(" · seed", 1)[0]
        return "" if name == side.group else name
    return name


def labelled(sides: Sequence[Side]) -> list[Side]:
    """Each side named for a legend: its given name, else the settings in which it differs from the others,
    else its id; a group adds its seeds ("lr=0.1 (seeds 1,2,3)"). Groups are told apart by what differs among
    the groups alone, so a list of every run does not lengthen their names."""
    groups = [s for s in sides if s.group]

    def differing(among: Sequence[Side]) -> list[str]:
        return [n for n in differing_hparams([s.runs[0].config for s in among]) if n != "seed"]

    for_groups = differing(groups if len(groups) >= 2 else sides)
    for_runs = differing(sides)
    named = []
    for side in sides:
        recipe = recipe_label(side.runs[0].config, for_groups if side.group else for_runs)
        label = _name(side) or recipe or side.key
        if side.group:
            label += f" (seeds {','.join(str(s) for s in sorted(side.seeds))})"
        named.append(replace(side, label=label))
    counts = Counter(side.label for side in named)  # settings that round alike (0.05637, 0.05641): add the id
    return [replace(side, label=f"{side.label} · {side.key}") if counts[side.label] > 1 else side for side in named]


def sides_of(selected: Iterable[RunInfo], every_run: Iterable[RunInfo]) -> list[Side]:
    """The sides the selected runs stand for, in their order: a run of a group brings its whole group."""
    members: dict[str, list[RunInfo]] = {}
    for run in every_run:
        if run.group:
            members.setdefault(run.group, []).append(run)
    sides: list[Side] = []
    seen: set[str] = set()
    for run in selected:
        key = run.group or run.id
        if key in seen:
            continue
        seen.add(key)
        if run.group:
            sides.append(_group_side(run.group, members.get(run.group) or [run]))
        else:
            sides.append(Side(key=run.id, label=run.label, runs=(run,)))
    return labelled(sides)


def resolve_side(key: str, runs: Sequence[RunInfo]) -> Side:
    """A run id or a group id → its side; RunNotFoundError (a KeyError) with a sentence when neither names
    anything here."""
    members = [r for r in runs if r.group == key]
    if members:
        return labelled([_group_side(key, members)])[0]
    for run in runs:
        if run.id == key:
            return Side(key=run.id, label=run.label, runs=(run,))
    what = "group" if _GROUP_ID.match(key) else "run or group"
    raise RunNotFoundError(f"no {what} {key!r} among the readable runs")
