"""One definition per flag: every option comes from a typed config field, and everything else from it.

Walks every field of TrainConfig and of each architecture's config: each has a flag, a help line and a
check that rejects a bad value with a message naming the flag; ``ganworks train --help`` lists it; the
parser reads it back; --resume's rule, the options table in docs/options.md and benchmark command lines
are generated from the same fields.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from ganworks import GanworksError
from ganworks.cli import build_parser, train_fields
from ganworks.config import OPTIONS, RESUME_SAFE, SHORTHANDS, TrainConfig, command_line, default_of, flag_of, \
    options_markdown
from ganworks.models import ARCH_CONFIGS, make_model_config, model_options
from ganworks.options import (Bool, Choice, Custom, Float, Int, Registered, Text, Widths, options_of)

ROOT = Path(__file__).resolve().parents[1]
INTERNAL_MODEL_FIELDS = {"image_shape", "num_classes", "output", "vocab_size", "seq_len", "eos"}  # from the data, no flag


def train_help() -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices["train"].format_help()


def bad_value(check):
    """A value the check must reject."""
    if isinstance(check, Custom):
        return -7
    if isinstance(check, Int):
        return check.min - 1
    if isinstance(check, Float):
        return math.nan
    if isinstance(check, Bool):
        return "yes"
    if isinstance(check, Choice):
        return "no-such-choice"
    if isinstance(check, Registered):
        return "no-such-name"
    if isinstance(check, Widths):
        return (0,)
    if isinstance(check, Text):
        return 5
    raise AssertionError(f"no bad value known for {check!r}")


def sample_text(name: str, opt) -> str:
    """A valid command-line value of an option."""
    check = opt.check
    if isinstance(check, Choice) or isinstance(check, Registered) and check.names:
        return check.choices()[-1] if name != "augment" else "cutout"
    return {Int: "3", Float: "0.25", Widths: "8,4", Custom: "3"}.get(type(check), "somewhere")


def test_every_field_has_an_option_with_help_and_check():
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(OPTIONS) == fields, "a TrainConfig field was declared without option(...)"
    for name, opt in OPTIONS.items():
        assert opt.flag.startswith("--") and opt.help.strip() and opt.check is not None, name
    for arch, cls in ARCH_CONFIGS.items():
        opts = options_of(cls)
        assert set(opts) == {f.name for f in dataclasses.fields(cls)} - INTERNAL_MODEL_FIELDS, arch
        assert all(o.help.strip() and o.flag.startswith("--") for o in opts.values()), arch


@pytest.mark.parametrize("name", [n for n in OPTIONS if n != "model_options"])
def test_every_field_rejects_a_bad_value_naming_its_flag(name):
    opt = OPTIONS[name]
    bad = bad_value(opt.check)
    with pytest.raises(GanworksError) as e:
        TrainConfig(**{name: bad})
    msg = str(e.value)
    assert "\n" not in msg
    named = opt.flag in msg or (isinstance(opt.check, Choice) and opt.check.noun in msg) or \
        repr(bad) in msg  # registries name the bad value ("unknown model 'no-such-name'; valid: ...")
    assert named, (name, msg)


@pytest.mark.parametrize("name", sorted(model_options()))
def test_every_model_option_rejects_a_bad_value_naming_its_flag(name):
    opt, archs = model_options()[name]
    with pytest.raises(GanworksError) as e:
        make_model_config(archs[0], **{name: bad_value(opt.check)})
    assert opt.flag in str(e.value), str(e.value)


def test_help_lists_every_flag_and_alias():
    text = train_help()
    flags = [f for opt in OPTIONS.values() if opt.cli for f in opt.flags]
    flags += [opt.flag for opt, _ in model_options().values()] + list(SHORTHANDS) + ["--resume", "--no-progress"]
    missing = [f for f in flags if f not in text]
    assert not missing, missing


@pytest.mark.parametrize("name", [n for n, o in OPTIONS.items() if o.cli])
def test_every_flag_and_alias_parses_into_its_field(name):
    opt = OPTIONS[name]
    for flag in opt.flags:
        if isinstance(opt.check, Bool):
            argv = [flag] if not default_of(name) else [f"--no-{flag[2:]}"]
            expected = not default_of(name)
        else:
            argv, expected = [flag, sample_text(name, opt)], None
        ns = build_parser().parse_args(["train", *argv])
        fields = train_fields(ns)
        assert name in fields, (flag, fields)
        if expected is not None:
            assert fields[name] is expected


def test_shorthand_lr_sets_both_rates_unless_one_is_typed():
    fields = train_fields(build_parser().parse_args(["train", "--lr", "1e-3", "--lr-d", "4e-3"]))
    assert fields["lr_g"] == 1e-3 and fields["lr_d"] == 4e-3
    with pytest.raises(GanworksError, match="--lr must be a positive finite number, got 0.0"):
        train_fields(build_parser().parse_args(["train", "--lr", "0"]))


def test_command_line_and_api_give_the_same_message():
    with pytest.raises(GanworksError) as api:
        TrainConfig(batch_size=0)
    with pytest.raises(GanworksError) as cli:
        TrainConfig(**train_fields(build_parser().parse_args(["train", "--batch-size", "0"])))
    assert str(api.value) == str(cli.value) == "--batch-size must be a positive integer, got 0"


def test_untyped_flags_take_the_dataclass_defaults():
    """argparse holds no second copy of a default: an empty command line is the default config."""
    ns = build_parser().parse_args(["train"])
    assert train_fields(ns) == {}
    assert TrainConfig(**train_fields(ns)) == TrainConfig()


def test_resume_rule_comes_from_the_fields():
    assert set(RESUME_SAFE) == {n for n, o in OPTIONS.items() if o.resume}
    assert {"kimg", "device", "eval_every"} <= set(RESUME_SAFE) and "lr_g" not in RESUME_SAFE
    resume_help = " ".join(train_help().split())
    for name in RESUME_SAFE:
        assert flag_of(name) in resume_help
    assert flag_of("strict_data") == "--strict" and flag_of("g_hidden") == "--g-hidden"


@pytest.mark.slow
def test_resume_refuses_a_typed_unsafe_flag(tmp_path, capsys):
    from gwtest import RING, cli, one_line_error

    run = tmp_path / "r"
    assert cli(capsys, "train", *RING, "--kimg", "1", "--run-dir", str(run)).returncode == 0
    one_line_error(cli(capsys, "train", "--resume", str(run), "--g-hidden", "64"),
                   "--g-hidden [64] conflicts with the run's g_hidden [32]")
    one_line_error(cli(capsys, "train", "--resume", str(run), "--beta1", "0.1"), "--beta1 0.1 conflicts")
    # a safe flag may change; the same value of an unsafe one is no conflict
    r = cli(capsys, "train", "--resume", str(run), "--kimg", "2", "--z-dim", "4", "--no-progress")
    assert r.returncode == 0, r.stderr


def test_command_line_round_trips_through_the_parser():
    values = {"data": "grid25", "model": "mlp", "objective": "ns", "kimg": 32000, "batch_size": 512, "lr_g": 2e-4,
              "lr_d": 8e-4, "lr_schedule": "linear", "instance_noise": 0.5, "conditional": False,
              "progress": False, "model_options": {"z_dim": 3, "g_hidden": (128, 128), "g_batchnorm": True,
                                                   "z_categories": 100}}
    line = command_line(values)
    fields = train_fields(build_parser().parse_args(line.split()[1:]))
    assert TrainConfig(**fields) == TrainConfig(**values)


def test_options_table_in_docs_is_generated_from_the_fields():
    text = (ROOT / "docs" / "options.md").read_text()
    assert text == options_markdown(), "docs/options.md is stale: python -m ganworks.config > docs/options.md"
    for opt in OPTIONS.values():
        if opt.cli:
            assert f"`{opt.flag}`" in text


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["train", "--batch-size", "0"], ["train", "--lr", "nan"],
                                  ["train", "--seed", "x"], ["sample", "--help"]])
def test_help_version_and_flag_errors_do_not_load_torch(argv):
    """They answer at once: the parser and the plain checks are torch-free (registries load on use)."""
    import subprocess
    import sys

    code = ("import sys\nfrom ganworks.cli import main\n"
            f"try:\n    rc = main({argv!r})\nexcept SystemExit as e:\n    rc = e.code\n"
            "print('torch' in sys.modules, rc, file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    loaded, rc = r.stderr.strip().splitlines()[-1].split()
    assert loaded == "False", r.stderr
    assert rc in ("0", "2") and (rc == "0") == (argv[-1] in ("--version", "--help")), r.stderr
