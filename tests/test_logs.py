"""TensorBoard event files: read back with TensorBoard's own reader, they hold what stats.jsonl holds."""

import json
import math

import pytest
from gwtest import TINY, needs_mnist5k

from ganworks.training.logs import TAGS, metric_tag, read_scalars, tag_for


@needs_mnist5k
def test_event_files_equal_stats_jsonl_and_metrics_jsonl(tmp_path):
    from ganworks import train

    run = train(run_dir=str(tmp_path / "run"), **{**TINY, "kimg": 1.0, "eval_every": 0.5, "eval_n": 300})
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    scalars = read_scalars(run)

    records = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert len(records) >= 2
    # Every issue-6 quantity is logged: losses, D outputs, accuracy, both gradient norms, speed.
    for key in ("loss_D", "loss_G", "D(x)", "D(G(z))", "D_acc", "grad_G", "grad_D", "img_per_s"):
        assert all(key in r for r in records), key
        assert tag_for(key) == TAGS[key]
    compared = 0
    numeric = {k for r in records for k, v in r.items() if isinstance(v, float) and not isinstance(v, bool)}
    for key in numeric - {"tick", "kimg"}:
        expected = [(int(round(r["kimg"] * 1000)), r[key]) for r in records]
        got = scalars[tag_for(key)]
        assert [s for s, _ in got] == [s for s, _ in expected], key
        for (_, v), (_, want) in zip(got, expected):
            assert v == pytest.approx(want, rel=1e-6, abs=1e-7), key  # event files hold float32
            compared += 1
    assert compared >= 2 * 8

    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(evals) == 2
    for name in evals[0]["metrics"]:
        got = scalars[metric_tag(name)]
        want = [(int(round(e["kimg"] * 1000)), e["metrics"][name]["value"]) for e in evals]
        assert [s for s, _ in got] == [s for s, _ in want]
        assert all(math.isclose(v, w, rel_tol=1e-6, abs_tol=1e-7) for (_, v), (_, w) in zip(got, want))


def test_a_new_event_file_sorts_after_the_existing_ones(tmp_path):
    """TensorBoard reads event files in name order, and a resume's purge step applies only to what was read
    before it. Within one second the names sort by pid and a counter, as text ("...10" before "...9"). A file
    from this second whose counter sorts after any new one's must still come first."""
    import time

    from ganworks.training.logs import TB_DIR, TensorBoardLog

    tb = tmp_path / TB_DIR
    tb.mkdir()
    older = tb / f"events.out.tfevents.{int(time.time()):010d}.~.9"  # "~" sorts after any host name
    older.write_bytes(b"")
    with TensorBoardLog(tmp_path, purge_step=1):
        pass
    names = sorted(p.name for p in tb.iterdir())
    assert len(names) == 2 and names[0] == older.name, names  # the new file is read last
