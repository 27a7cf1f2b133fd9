"""Sequence GANs (issue 17): the oracle, the two gradient estimators, a short run that learns a formal
language, bitwise resume of a sequence run, and the user's view of bad input."""

from __future__ import annotations

import json
import math

import pytest
import torch
from gwtest import cli, one_line_error, run_cli, stats

from ganworks.sequences.data import brackets_strings, is_balanced, oracle_model
from ganworks.sequences.estimators import gumbel_softmax, leave_one_out_baseline, reinforce_surrogate
from ganworks.sequences.metrics import bleu_scores

TINY = ["--batch-size", "32", "--emb-dim", "16", "--hidden-dim", "32", "--d-filters", "16", "--no-progress",
        "--tick-kimg", "0.5", "--snapshot-kimg", "1"]


def test_the_oracle_finds_its_own_samples_likelier_than_random_sequences():
    oracle = oracle_model(20)
    own = oracle.sample(200, generator=torch.Generator().manual_seed(5))
    rand = torch.randint(0, 5000, (200, 20), generator=torch.Generator().manual_seed(6))
    nll_own, nll_rand = oracle.nll(own).mean().item(), oracle.nll(rand).mean().item()
    # log 5000 = 8.52 nats is a uniform model's; a random LSTM with N(0, 1) weights is far more peaked.
    assert nll_own < 7.0 < math.log(5000) < nll_rand, (nll_own, nll_rand)
    assert oracle_model(20) is oracle and torch.equal(oracle.out.weight, oracle_model(40).out.weight)


def test_gumbel_softmax_becomes_one_hot_as_the_temperature_falls_and_straight_through_has_a_gradient():
    logits = torch.randn(256, 7, generator=torch.Generator().manual_seed(0))
    noise = -torch.log(-torch.log(torch.rand(256, 7, generator=torch.Generator().manual_seed(1))))
    gaps = []
    for beta in (1.0, 10.0, 1e4):  # temperature 1, 0.1, 1e-4
        y, index = gumbel_softmax(logits, beta, noise=noise)
        assert torch.allclose(y.sum(-1), torch.ones(256), atol=1e-5)
        assert torch.equal(y.argmax(-1), index) and torch.equal(index, (logits + noise).argmax(-1))
        gaps.append((1 - y.max(-1).values).max().item())
    assert gaps[0] > 0.3 and gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-3, gaps
    x = logits.clone().requires_grad_(True)
    y, index = gumbel_softmax(x, 1.0, straight_through=True, noise=noise)
    assert torch.equal(y.detach(), torch.nn.functional.one_hot(index, 7).float())  # hard forward
    (y * torch.arange(7.0)).sum().backward()
    assert x.grad.abs().sum() > 0  # the soft gradient comes back
    with pytest.raises(RuntimeError):  # argmax itself: no gradient at all
        torch.nn.functional.one_hot(x.argmax(-1), 7).float().sum().backward()


def test_reinforce_is_unbiased_on_a_problem_with_an_exact_gradient():
    theta = torch.tensor([0.5, -1.0, 0.2, 1.3], requires_grad=True)
    f = torch.tensor([1.0, 4.0, -2.0, 0.5])  # the reward of each outcome
    p = torch.softmax(theta.detach(), 0)
    exact = p * (f - (p * f).sum())  # d/dtheta sum_k p_k f_k
    n = 40_000
    k = torch.multinomial(p, n, replacement=True, generator=torch.Generator().manual_seed(0))
    r = f[k]
    adv = r - leave_one_out_baseline(r)
    logp = torch.log_softmax(theta, 0)[k][:, None]  # (n, 1): one "token" per sequence
    (-reinforce_surrogate(logp, adv)).backward()
    per_sample = adv[:, None] * (torch.nn.functional.one_hot(k, 4).float() - p)  # (r - b) grad log p(k)
    se = per_sample.std(0) / math.sqrt(n)
    assert torch.allclose(theta.grad, per_sample.mean(0), atol=1e-4)
    z = (theta.grad - exact).abs() / se
    assert z.max() < 4.5, (theta.grad, exact, se)


def test_a_sampling_temperature_is_scored_as_the_model_it_samples_from():
    # nll-gen at temperature T scores softmax(logits / T), the distribution sample(temperature=T) draws from
    # (the MLE temperature sweep moves on both axes): over all 27 sequences of 3 tokens of 3, it sums to 1 and
    # matches 30,000 draws.
    import itertools

    from ganworks.models import build_generator, make_model_config

    torch.manual_seed(0)
    G = build_generator("seq", make_model_config("seq", vocab_size=3, seq_len=3, eos=False, emb_dim=4, hidden_dim=4))
    with torch.no_grad():
        G.out.weight.mul_(8)  # peaked enough that T = 0.5 and T = 1 differ clearly
        every = torch.tensor(list(itertools.product(range(3), repeat=3)))
        p = {T: torch.exp(-3 * G.nll(every, T)) for T in (1.0, 0.5)}
        draws = G.sample(30_000, temperature=0.5, generator=torch.Generator().manual_seed(1))
    assert abs(p[1.0].sum() - 1) < 1e-5 and abs(p[0.5].sum() - 1) < 1e-5
    assert (p[0.5] - p[1.0]).abs().max() > 0.05
    freq = torch.stack([(draws == row).all(1).float().mean() for row in every])
    assert (freq - p[0.5]).abs().max() < 0.015, (freq - p[0.5]).abs().max()


def test_bleu_and_the_brackets_language_are_exact():
    refs = [tuple("hello world"), tuple("good morning")]
    assert bleu_scores(refs, refs) == [1.0, 1.0] and bleu_scores([tuple("xyz")], refs) == [0.0]
    assert max(bleu_scores(refs, refs, self_refs=True)) < 0.5  # scored against the other one only
    strings = brackets_strings(500, seed=3)
    assert all(is_balanced(s) and 2 <= len(s) <= 16 for s in strings) and len(set(strings)) > 300
    assert not any(map(is_balanced, ["", "(", "(]", ")(", "([)]", "a"]))


def _validity(run) -> float:
    from ganworks.sequences.run import evaluate_run

    return evaluate_run(run, "validity", n=500)["metrics"]["validity"]["value"]


@pytest.mark.slow
def test_a_short_run_on_brackets_learns_the_language(tmp_path, capsys):
    random_g = cli(capsys, "train", "--data", "brackets", "--kimg", "0.032", *TINY, "--objective", "mle",
                   "--run-dir", str(tmp_path / "random"))
    r = cli(capsys, "train", "--data", "brackets", "--kimg", "2", "--pretrain-kimg", "1.5", *TINY,
            "--run-dir", str(tmp_path / "gan"))
    assert random_g.returncode == 0 and r.returncode == 0, r.stderr
    before, after = _validity(tmp_path / "random"), _validity(tmp_path / "gan")
    # Measured (500 samples, this CPU, seeds 0 / 1 / 2): one step from random 0.028 / 0.022 / 0.028; after
    # 1.5 kimg of MLE and 0.5 of the game 0.664 / 0.668 / 0.614 (4 kimg, 3 of MLE: 0.812 / 0.864 / 0.722).
    assert before < 0.1 and after > 0.45, (before, after)
    s = cli(capsys, "sample", str(tmp_path / "gan"), "--n", "20", "--txt", str(tmp_path / "s.txt"), "--temperature", "0.5")
    lines = (tmp_path / "s.txt").read_text().splitlines()
    assert s.returncode == 0 and len(lines) == 20 and sum(map(is_balanced, lines)) >= 10
    stats = [json.loads(line) for line in (tmp_path / "gan" / "stats.jsonl").read_text().splitlines()]
    assert "loss_mle" in stats[0] and "loss_G" in stats[-1] and stats[-1]["beta"] > 1
    assert (tmp_path / "gan" / "samples" / "fakes000002.txt").is_file() and (tmp_path / "gan" / "vocab.json").is_file()
    rep = cli(capsys, "report", str(tmp_path / "gan"))
    assert rep.returncode == 0 and "real data" in (tmp_path / "gan" / "report.html").read_text()


@pytest.mark.parametrize("estimator", ["gumbel", "reinforce"])
def test_resume_of_a_sequence_run_is_bitwise_exact(tmp_path, capsys, estimator):
    from safetensors.torch import load_file

    # The temperature schedule follows --kimg (as --lr-schedule does): a constant one keeps the two runs equal.
    extra = ["--rollouts", "2"] if estimator == "reinforce" else ["--straight-through", "--gumbel-schedule", "constant"]
    # 2 MLE steps, 2 rounds of the game, the checkpoint, 4 more rounds after the resume.
    common = ["--data", "brackets", "--pretrain-kimg", "0.064", "--estimator", estimator, *extra, *TINY,
              "--checkpoint-kimg", "0.128"]
    assert cli(capsys, "train", *common, "--kimg", "0.256", "--run-dir", str(tmp_path / "whole")).returncode == 0
    assert cli(capsys, "train", *common, "--kimg", "0.128", "--run-dir", str(tmp_path / "part")).returncode == 0
    r = cli(capsys, "train", "--resume", str(tmp_path / "part"), "--kimg", "0.256")
    assert r.returncode == 0, r.stderr
    for kind in ("generator", "discriminator"):
        a, b = (load_file(str(tmp_path / run / f"{kind}.safetensors")) for run in ("whole", "part"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), kind
    assert (tmp_path / "whole" / "samples" / "fakes000000.txt").read_text() == \
        (tmp_path / "part" / "samples" / "fakes000000.txt").read_text()


@pytest.mark.parametrize("args, fragments", [
    (["--data", "text:{tmp}/missing.txt"], ["text:", "missing.txt: no such file"]),
    (["--data", "text:{tmp}/empty.txt"], ["empty.txt holds no non-empty lines"]),
    (["--data", "text:{tmp}/words.txt", "--max-len", "0"], ["--max-len must be a positive integer, got 0"]),
    (["--data", "text:{tmp}/words.txt", "--tokens", "word", "--max-vocab", "3"],
     ["vocabulary of 5 tokens", "--max-vocab 3", "--tokens char"]),
    (["--data", "oracle", "--model", "dcgan"], ["holds token sequences; use --model seq"]),
    (["--data", "mnist-5k", "--estimator", "reinforce"], ["--estimator applies to token sequences"]),
    (["--data", "brackets", "--objective", "wgan-gp"], ["gradient penalty is not supported"]),
])
def test_bad_sequence_input_is_one_line_and_exit_2(tmp_path, capsys, args, fragments):
    (tmp_path / "empty.txt").write_text("\n  \n\n")
    (tmp_path / "words.txt").write_text("a b c\nb c d\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = cli(capsys, "train", *args, "--kimg", "0.064", "--no-progress", "--run-dir", str(tmp_path / "run"))
    one_line_error(r, *fragments)


@pytest.mark.slow
def test_text_runs_save_their_vocabulary_and_a_real_process_refuses_a_bad_run(tmp_path, capsys):
    (tmp_path / "lines.txt").write_text("the cat sat\nthe dog ran\na cat ran\nthe end\n" * 20, encoding="utf-8")
    r = cli(capsys, "train", "--data", f"text:{tmp_path}/lines.txt", "--tokens", "word", "--objective", "mle",
            "--kimg", "0.064", *TINY, "--run-dir", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    vocab = json.loads((tmp_path / "run" / "vocab.json").read_text())
    assert vocab["vocab"][0] == "<eos>" and {"the", "cat", "ran"} <= set(vocab["vocab"]) and vocab["join"] == " "
    p = run_cli("sample", str(tmp_path / "run"), "--out", str(tmp_path / "x.png"))
    one_line_error(p, "--out applies to images", "--txt")


@pytest.mark.slow
def test_lab_discrete_gradient_reproduces_every_claim(tmp_path):
    from ganworks.lab import run_experiment

    res = run_experiment("discrete-gradient", seed=1, quick=True, out=tmp_path / "g.png")
    assert res["all_ok"], [c for c in res["checks"] if not c["ok"]]
    assert res["argmax_gradient"] == [0.0] * 5 and (tmp_path / "g.png").stat().st_size > 10_000
    bias = [r["bias"] for r in res["gumbel"]]
    assert bias[-2] < bias[1] and res["gumbel"][-1]["std"] > res["gumbel"][1]["std"]


def test_the_lr_schedule_follows_each_phase_of_a_sequence_run(tmp_path, capsys):
    # --lr-schedule used to reach no maximum-likelihood step: the loop set --pretrain-lr again before each one, so
    # `--objective mle --lr-schedule cosine` trained at 0.01 throughout. Now each phase follows the schedule over its
    # own length: MLE from --pretrain-lr to 0 at the end of pre-training, the game from its full rates to 0 at --kimg.
    def lrs(run) -> list[tuple[float, float, float]]:
        rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
        return [(r["kimg"], r["lr_G"], r["lr_D"]) for r in rows if "lr_G" in r]

    tick = ["--tick-kimg", "0.064"]  # batch 32: a tick every 2 steps; lr_G is the rate of the tick's last step
    r = cli(capsys, "train", "--data", "brackets", "--objective", "mle", "--kimg", "0.256", "--lr-schedule", "linear",
            *TINY, *tick, "--run-dir", str(tmp_path / "mle"))
    assert r.returncode == 0, r.stderr
    got = lrs(tmp_path / "mle")
    assert [k for k, _, _ in got] == pytest.approx([0.064, 0.128, 0.192, 0.256])
    assert [g for _, g, _ in got] == pytest.approx([0.01 * (1 - n / 256) for n in (32, 96, 160, 224)])

    r = cli(capsys, "train", "--data", "brackets", "--pretrain-kimg", "0.128", "--kimg", "0.256", "--objective", "ns",
            "--d-steps", "1", "--lr", "1e-3", "--estimator", "reinforce", "--lr-schedule", "linear", *TINY, *tick,
            "--run-dir", str(tmp_path / "gan"))
    assert r.returncode == 0, r.stderr
    got = lrs(tmp_path / "gan")
    assert [g for _, g, _ in got] == pytest.approx([0.01 * 0.75, 0.01 * 0.25, 1e-3 * 0.75, 1e-3 * 0.25])
    assert [d for _, _, d in got[2:]] == pytest.approx([1e-3 * 0.75, 1e-3 * 0.25])


def test_a_sequence_run_with_minutes_alone_trains_for_the_time(tmp_path, capsys):
    """--minutes without --kimg: no default length cuts the run short, in the sequence loop as in the image loop
    (pre-training then lasts the whole budget when the objective is maximum likelihood alone). The budget
    places the ticks: with --tick-kimg 1000 the run still ticks about every second and ends at its budget."""
    run = tmp_path / "r"
    r = cli(capsys, "train", "--data", "brackets", "--objective", "mle", "--minutes", "0.05", *TINY,
            "--tick-kimg", "1000", "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["kimg"] is None and 0.05 <= config["reached"]["minutes"] < 0.05 + 1.5 / 60
    assert len(stats(run)) >= 3 and config["reached"]["kimg"] < 1000
    assert config["reached"]["kimg"] > 0 and "0.05 minutes of brackets" in (run / "log.txt").read_text()
