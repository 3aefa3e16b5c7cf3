"""``s1 train CONFIG_OR_PRESET``: argparse wiring over TrainConfig (also ``python -m s1lib.train``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing
from typing import Any

from s1lib.cli.commands import add_command
from s1lib.cli.flags import field_flag, run_flag
from s1lib.configfile import coerce, describe
from s1lib.train.config import PRESETS, TrainConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``s1 train``'s flags: the config to start from, then TrainConfig fields (a few by name, any by ``--set``)."""
    run_flag(parser, "config", help=f"a preset ({', '.join(sorted(PRESETS))}) or a YAML/JSON config file")
    field_flag(parser, TrainConfig, "data", default=None, shown_default="the config's", type=str)
    field_flag(parser, TrainConfig, "model", default=None, shown_default="the config's", type=str)
    field_flag(
        parser,
        TrainConfig,
        "output_dir",
        flag="--output",
        dest="output",
        default=None,
        shown_default="the config's",
        type=str,
    )
    field_flag(parser, TrainConfig, "lora", action="store_true")
    field_flag(parser, TrainConfig, "max_steps", default=None, shown_default="the config's")
    field_flag(parser, TrainConfig, "resume_from_checkpoint", flag="--resume", dest="resume", action="store_true",
               note="(--resume sets it to 'last')")  # fmt: skip
    run_flag(
        parser,
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override any TrainConfig field, e.g. --set block_size=1024 (repeatable)",
    )
    run_flag(parser, "--json", action="store_true", help="print only the final summary as JSON")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = fields_epilog()


def fields_epilog() -> str:
    """The fields ``--set`` takes, each with its default and help (``TrainConfig.help()``: declared once)."""
    defaults, lines = TrainConfig().to_dict(), ["TrainConfig fields for --set FIELD=VALUE:"]
    for name, text in TrainConfig.help().items():
        lines.append(f"  {name} (default {defaults.get(name)!r}): {text}")
    return "\n".join(lines)


def _coerce(name: str, raw: str) -> Any:
    """``--set FIELD=VALUE``: the value as the field's type, by the one coercion of strings (``configfile.coerce``)."""
    hints = typing.get_type_hints(TrainConfig)
    if name not in hints:
        raise SystemExit(f"--set: unknown TrainConfig field {name!r}; valid: {', '.join(TrainConfig.field_names())}")
    try:
        return coerce(raw, hints[name])
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"--set {name}: expected {describe(hints[name])}, got {raw!r} ({exc})") from None


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    overrides: dict[str, Any] = {}
    for item in args.set:
        if "=" not in item:
            raise SystemExit(f"--set expects FIELD=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        overrides[key.strip()] = _coerce(key.strip(), raw)
    overrides.update(
        {
            k: v
            for k, v in {
                "data": args.data,
                "model": args.model,
                "output_dir": args.output,
                "max_steps": args.max_steps,
                "lora": True if args.lora else None,
                "resume_from_checkpoint": "last" if args.resume else None,
            }.items()
            if v is not None
        }
    )
    return TrainConfig.load(args.config, **overrides)


def run(args: argparse.Namespace) -> int:
    from s1lib.train.data import DataError
    from s1lib.train.trainer import run_training

    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"s1 train: {exc}", file=sys.stderr)
        return 2

    def show(row: dict[str, Any]) -> None:
        print(
            f"step {row['step']:>5}  loss {row['loss']:.4f}  lr {row['lr']:.2e}  "
            f"{row['tokens_per_s']:.0f} tok/s  ({row['tokens']} tokens)",
            flush=True,
        )

    if not args.json:
        print(f"s1 train: {args.config} -> {config.output_dir} (model {config.model}, data {config.data})", flush=True)
    try:
        result = run_training(config, on_row=None if args.json else show)
    except (DataError, FileNotFoundError) as exc:
        print(f"s1 train: {exc}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") != "0":
        return 0  # one report per run, from the main process
    if args.json:
        print(json.dumps(result.to_dict(), default=str))
    else:
        print(f"done: {result.global_step} steps, final loss {result.final_loss}, model saved in {result.model_dir}")
    return 0


def register_cli(subparsers: Any) -> None:
    """Add ``train`` to the ``s1`` command (``subparsers`` from ``parser.add_subparsers()``)."""
    parser = add_command(
        subparsers,
        "train",
        description="Fine-tune a model on s1K-format data with the paper's recipe. "
        "Multi-GPU: accelerate launch --config_file env/accelerate/fsdp.yaml -m s1lib.train paper",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m s1lib.train", description="s1 SFT (see `s1 train -h`)")
    add_arguments(parser)
    return run(parser.parse_args(argv))
