"""The metric functions of ganworks.metrics against definitions, scipy and constructed cases."""

import ast
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import ganworks.metrics as gm
from ganworks.data import load_dataset
from ganworks.data.toy import GRID25, RING8
from ganworks.errors import GanworksError
from ganworks.metrics import prdc


def rng(seed=0):
    return np.random.default_rng(seed)


def gaussian(n, d, seed, mean=0.0, scale=1.0):
    return mean + scale * rng(seed).standard_normal((n, d))


# ---------------------------------------------------------------------------------------------
# Frechet distance


def test_fd_matches_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    r = rng(1)
    a = r.standard_normal((500, 16)) @ r.standard_normal((16, 16)) + r.standard_normal(16)
    b = r.standard_normal((400, 16)) @ r.standard_normal((16, 16)) * 0.5 - 1.0
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    want = ((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * np.trace(linalg.sqrtm(sa @ sb).real)
    got = gm.frechet_distance(a, b)
    assert isinstance(got, float)
    assert got == pytest.approx(want, rel=1e-6)
    # torch tensors (float32 too) are accepted; float32 rounding of the inputs only
    assert gm.frechet_distance(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(want, rel=1e-12)
    assert gm.frechet_distance(torch.from_numpy(a).float(), b) == pytest.approx(want, rel=1e-4)
    # the statistics route gives the same number
    assert gm.frechet_distance_from_statistics(*gm.feature_statistics(a), *gm.feature_statistics(b)) == got


def test_fd_zero_for_identical_symmetric_and_mean_shift():
    a = gaussian(300, 12, 2, mean=5.0, scale=3.0)
    b = gaussian(350, 12, 3) @ rng(4).standard_normal((12, 12))
    assert 0.0 <= gm.frechet_distance(a, a) < 1e-8
    assert gm.frechet_distance(a, b) == pytest.approx(gm.frechet_distance(b, a), rel=1e-10)
    # same covariance, mean moved by s: FD = |s|^2 exactly
    s = np.arange(12) / 4.0
    assert gm.frechet_distance(a, a + s) == pytest.approx((s ** 2).sum(), rel=1e-9)


def test_fd_warns_only_when_covariance_is_singular():
    with pytest.warns(UserWarning, match="singular"):
        gm.frechet_distance(gaussian(20, 32, 0), gaussian(100, 32, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm.frechet_distance(gaussian(100, 32, 0), gaussian(100, 32, 1))


def test_inputs_are_checked():
    with pytest.raises(GanworksError, match="feature dimensions"):
        gm.frechet_distance(gaussian(50, 3, 0), gaussian(50, 4, 1))
    bad = gaussian(50, 3, 0)
    bad[3, 1] = np.nan
    with pytest.raises(GanworksError, match="NaN"):
        gm.kid(bad, gaussian(50, 3, 1))
    with pytest.raises(GanworksError, match=r"\(N, D\)"):
        gm.precision_recall(np.zeros(10), np.zeros(10))
    with pytest.raises(GanworksError, match="at least 4"):
        gm.precision_recall(gaussian(3, 2, 0), gaussian(10, 2, 1), k=3)


# ---------------------------------------------------------------------------------------------
# KID


def naive_mmd2(x, y):
    d = x.shape[1]

    def k(u, v):
        return (float(np.dot(u, v)) / d + 1.0) ** 3

    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_whole_sets_equal_the_naive_unbiased_mmd_and_are_symmetric():
    a, b = gaussian(40, 5, 0), gaussian(40, 5, 1, mean=0.3)
    mean, std = gm.kid(a, b, subset_size=40)
    assert mean == pytest.approx(naive_mmd2(a, b), rel=1e-10)
    assert std == 0.0
    assert gm.kid(b, a, subset_size=40)[0] == pytest.approx(mean, rel=1e-12)
    # subset_size larger than the sets is clipped to them
    assert gm.kid(a, b, subset_size=10_000) == (mean, std)


def test_kid_near_zero_for_one_distribution_positive_for_a_shift():
    subsets = 50  # subsets of 100 x 16: small enough that BLAS stays on one thread (fast on busy cores)
    for seed in range(3):
        a, b = gaussian(2000, 16, 10 + seed), gaussian(2000, 16, 20 + seed)
        mean, std = gm.kid(a, b, subsets=subsets, subset_size=100, seed=seed)
        assert std > 0
        assert abs(mean) < 3 * std / math.sqrt(subsets)
        shifted, sstd = gm.kid(a, b + 0.5, subsets=subsets, subset_size=100, seed=seed)
        assert shifted > 10 * sstd / math.sqrt(subsets)
        assert shifted > 20 * abs(mean)


def test_kid_is_deterministic_given_seed():
    a, b = gaussian(300, 8, 0), gaussian(250, 8, 1)
    assert gm.kid(a, b, subsets=5, subset_size=100, seed=7) == gm.kid(a, b, subsets=5, subset_size=100, seed=7)
    assert gm.kid(a, b, subsets=5, subset_size=100, seed=7) != gm.kid(a, b, subsets=5, subset_size=100, seed=8)
    # clipping: 10**6 behaves exactly as min(len(a), len(b))
    assert gm.kid(a, b, subsets=3, subset_size=10**6) == gm.kid(a, b, subsets=3, subset_size=250)


# ---------------------------------------------------------------------------------------------
# Precision / recall, density / coverage


def brute_force(real, fake, k):
    from scipy.spatial.distance import cdist

    rr, ff, rf = cdist(real, real), cdist(fake, fake), cdist(real, fake)
    r_real = np.sort(rr, axis=1)[:, k]  # column 0 is the point itself
    r_fake = np.sort(ff, axis=1)[:, k]
    precision = (rf <= r_real[:, None]).any(0).mean()
    recall = (rf <= r_fake[None, :]).any(1).mean()
    density = (rf <= r_real[:, None]).sum() / (k * len(fake))
    coverage = (rf.min(1) <= r_real).mean()
    return r_real, (precision, recall), (density, coverage)


def test_prdc_match_their_definitions():
    pytest.importorskip("scipy")
    real, fake = gaussian(300, 6, 0), gaussian(250, 6, 1, mean=0.4, scale=1.3)
    for k in (1, 3, 5):
        radii, pr, dc = brute_force(real, fake, k)
        np.testing.assert_allclose(gm.knn_radii(real, k=k), radii, rtol=1e-9)
        assert gm.precision_recall(real, fake, k=k) == pytest.approx(pr, abs=1e-12)
        assert gm.density_coverage(real, fake, k=k) == pytest.approx(dc, abs=1e-12)


def test_precision_recall_extremes_and_half_coverage():
    a = gaussian(400, 8, 0)
    assert gm.precision_recall(a, a) == (1.0, 1.0)
    assert gm.precision_recall(a, gaussian(300, 8, 1, mean=100.0)) == (0.0, 0.0)
    # real: two far-apart clusters of 200; fake: exactly the first cluster
    real = np.concatenate([gaussian(200, 8, 2), gaussian(200, 8, 3, mean=50.0)])
    precision, recall = gm.precision_recall(real, real[:200])
    assert (precision, recall) == (1.0, 0.5)
    # the same for an independent sample of the first cluster: recall ~ 0.5, precision ~ 1
    precision, recall = gm.precision_recall(real, gaussian(400, 8, 4), k=5)
    assert precision > 0.8 and 0.4 < recall <= 0.5


def test_precision_recall_swap_and_density_coverage_is_asymmetric():
    a, b = gaussian(300, 4, 0), gaussian(200, 4, 1, mean=0.5, scale=0.5)
    p, r = gm.precision_recall(a, b)
    assert gm.precision_recall(b, a) == (r, p) and p != r
    # real: clusters at 0 and at 50 (200 each); fake: 400 from the first cluster only
    real = np.concatenate([gaussian(200, 2, 5), gaussian(200, 2, 6, mean=50.0)])
    fake = gaussian(400, 2, 7)
    density, coverage = gm.density_coverage(real, fake)
    assert density > 0.8 and coverage < 0.5  # realistic fakes, half the real balls empty
    density_s, coverage_s = gm.density_coverage(fake, real)  # swapped: only the first cluster has balls
    assert density_s < 0.6 and coverage_s > 0.7
    p, r = gm.precision_recall(real, fake)
    assert p > 0.9 and r <= 0.5


def test_density_coverage_same_distribution_and_collapse():
    real, fake = gaussian(3000, 2, 0), gaussian(3000, 2, 1)
    density, coverage = gm.density_coverage(real, fake, k=5)
    assert 0.95 < density < 1.05  # E[density] = 1
    assert 0.94 < coverage <= 1.0  # E[coverage] -> 1 - 2^-5 = 0.97
    collapsed = gaussian(3000, 2, 2, scale=0.01)
    density_c, coverage_c = gm.density_coverage(real, collapsed, k=5)
    assert coverage_c < 0.02
    precision_c, recall_c = gm.precision_recall(real, collapsed)
    assert precision_c > 0.95 and recall_c < 0.02  # realistic but not diverse


def test_prdc_do_not_depend_on_chunk_size():
    real, fake = gaussian(230, 5, 0), gaussian(170, 5, 1, mean=0.3)
    pr = {c: gm.precision_recall(real, fake, chunk_size=c) for c in (1, 7, 64, None, 10**6)}
    dc = {c: gm.density_coverage(real, fake, chunk_size=c) for c in (1, 7, 64, None, 10**6)}
    assert len(set(pr.values())) == 1 and len(set(dc.values())) == 1
    np.testing.assert_allclose(gm.knn_radii(real, k=3, chunk_size=1), gm.knn_radii(real, k=3), rtol=1e-12)


def test_prdc_automatic_chunks_bound_memory(monkeypatch):
    shapes = []
    real_sq_dists = prdc._sq_dists

    def recording(x, y, y_sq):
        shapes.append((len(x), len(y)))
        return real_sq_dists(x, y, y_sq)

    monkeypatch.setattr(prdc, "_sq_dists", recording)
    monkeypatch.setattr(prdc, "_BLOCK_ELEMENTS", 1 << 18)  # a 2 MB budget instead of 32 MB
    a, b = gaussian(1500, 4, 0), gaussian(1200, 4, 1)
    gm.precision_recall(a, b)
    gm.density_coverage(a, b)
    assert max(r * c for r, c in shapes) <= 1 << 18
    assert len(shapes) > 4


# ---------------------------------------------------------------------------------------------
# Classifier score, class histograms, Stacked MNIST


def one_hot(labels, k):
    return np.eye(k)[labels]


def test_classifier_score_bounds():
    k = 10
    balanced = one_hot(np.repeat(np.arange(k), 50), k)
    assert gm.classifier_score(balanced) == pytest.approx(k, rel=1e-12)
    assert gm.classifier_score(one_hot(np.full(300, 4), k)) == pytest.approx(1.0, abs=1e-12)
    assert gm.classifier_score(np.full((300, k), 1.0 / k)) == pytest.approx(1.0, abs=1e-12)
    soft = rng(0).dirichlet(np.full(k, 0.3), size=400)
    marginal = soft.mean(0)
    want = math.exp(np.mean([(p * np.log(p / marginal)).sum() for p in soft]))
    got = gm.classifier_score(torch.from_numpy(soft).float())
    assert got == pytest.approx(want, rel=1e-5)
    assert 1.0 < got < k
    with pytest.raises(GanworksError, match="logits"):
        gm.classifier_score(rng(0).standard_normal((10, k)))


def test_class_histogram_balanced_and_collapsed():
    k = 10
    balanced = gm.class_histogram(np.repeat(np.arange(k), 100), k)
    assert balanced["histogram"] == [100] * k
    assert balanced["modes_covered"] == balanced["modes_well_covered"] == k
    assert balanced["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert balanced["effective_classes"] == pytest.approx(k)
    assert balanced["collapsed"] is False and balanced["confident_fraction"] is None
    single = gm.class_histogram(torch.full((500,), 3), k)
    assert single["modes_covered"] == 1 and single["collapsed"] is True
    assert single["kl_to_uniform"] == pytest.approx(math.log(k), rel=1e-12)
    # noise that a classifier puts in one class without confidence: argmax always 7
    p = rng(1).dirichlet(np.ones(k), size=400) * 0.3
    p[:, 7] += 0.7
    noise = gm.class_histogram(torch.from_numpy(p), k)
    assert noise["histogram"][7] == 400 and noise["collapsed"] is True
    assert noise["confident_fraction"] == 0.0 and 0.7 < noise["mean_max_prob"] < 0.9
    # probabilities and their argmax labels give the same histogram
    q = rng(2).dirichlet(np.ones(k), size=300)
    assert gm.class_histogram(q, k)["histogram"] == gm.class_histogram(q.argmax(1), k)["histogram"]


def test_collapse_rule_boundaries():
    k = 10

    def verdict(counts):
        return gm.class_histogram(np.repeat(np.arange(k), counts), k)["collapsed"]

    assert not verdict([100] * 9 + [0])  # one class missing: 9/10 well covered, 9 effective classes
    assert verdict([100] * 8 + [0, 0])  # two missing
    assert verdict([100] * 8 + [40, 40])  # two starved (below half of the fair share of 90)
    assert verdict([400] + [67] * 9)  # one class holds 40%: 7.3 effective classes
    assert not verdict([300] + [78] * 9)  # 30%: 8.6 effective classes
    noisy = gm.class_histogram(rng(3).integers(0, k, 1000), k)  # a fair generator, N = 100 K
    assert not noisy["collapsed"] and noisy["kl_to_uniform"] < 0.02


def test_class_histogram_checks_its_input():
    with pytest.raises(GanworksError, match="num_classes"):
        gm.class_histogram(np.full((5, 3), 1 / 3), 10)
    with pytest.raises(GanworksError, match="outside"):
        gm.class_histogram(np.array([0, 10]), 10)
    with pytest.raises(GanworksError, match="integer"):
        gm.class_histogram(np.array([0.0, 1.0]), 10)


def test_stacked_modes_counts_exactly():
    r, g, b = np.array([1, 1, 2, 0, 9]), np.array([2, 2, 3, 0, 9]), np.array([3, 3, 4, 0, 9])
    out = gm.stacked_modes(r, g, b)
    hist = np.array(out["histogram"])
    assert len(hist) == 1000 and out["num_samples"] == 5
    assert (hist[123], hist[234], hist[0], hist[999]) == (2, 1, 1, 1) and hist.sum() == 5
    assert out["modes_covered"] == 4
    q = np.array([2, 1, 1, 1]) / 5
    assert out["kl_to_uniform"] == pytest.approx(math.log(1000) + (q * np.log(q)).sum(), rel=1e-12)
    # probabilities (argmax per channel) give the same result
    soft = [0.9 * one_hot(c, 10) + 0.01 for c in (r, g, b)]
    assert gm.stacked_modes(*soft)["histogram"] == out["histogram"]
    # every mode once: all 1,000 covered, KL 0, not collapsed
    m = np.arange(1000)
    full = gm.stacked_modes(m // 100, m // 10 % 10, m % 10)
    assert full["modes_covered"] == 1000 and full["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert not full["collapsed"]


def test_stacked_modes_splits_the_kl_into_channels_and_dependence():
    m = np.arange(1000)
    # the same digit in all three channels: each channel uniform, all of the KL is dependence (log 100)
    same = gm.stacked_modes(m % 10, m % 10, m % 10)
    assert same["channel_kl"] == pytest.approx([0, 0, 0], abs=1e-12)
    assert same["dependence_kl"] == pytest.approx(2 * math.log(10), rel=1e-12)
    assert same["kl_to_uniform"] == pytest.approx(2 * math.log(10), rel=1e-12)
    # red always 0, green and blue every pair once: independent, the KL is red's log 10
    red0 = gm.stacked_modes(np.zeros(100, int), np.arange(100) // 10, np.arange(100) % 10)
    assert red0["channel_kl"] == pytest.approx([math.log(10), 0, 0], abs=1e-12)
    assert red0["dependence_kl"] == pytest.approx(0.0, abs=1e-12)
    assert red0["channel_histograms"][0] == [100] + [0] * 9
    # any histogram: the parts add up to the whole
    rng = np.random.default_rng(0)
    r, g, b = (rng.choice(10, 500, p=np.r_[[0.3], np.full(9, 0.7 / 9)]) for _ in range(3))
    out = gm.stacked_modes(r, g, b)
    assert sum(out["channel_kl"]) + out["dependence_kl"] == pytest.approx(out["kl_to_uniform"], rel=1e-9)
    assert [sum(h) for h in out["channel_histograms"]] == [500] * 3
    # uniform, independent draws: sampling noise, as the docstring says (9/(2N) per channel, 972/(2N) dependence)
    n = 26_000
    noise = gm.stacked_modes(*(rng.integers(0, 10, n) for _ in range(3)))
    assert all(v < 10 * 9 / (2 * n) for v in noise["channel_kl"])
    assert noise["dependence_kl"] == pytest.approx(972 / (2 * n), abs=0.004)
    assert "channels" in gm.format_modes(noise)[1] and "channels" not in gm.format_modes(gm.class_histogram(r, 10))[1]


# ---------------------------------------------------------------------------------------------
# Mixtures


def test_mixture_modes_on_real_ring8_and_one_mode():
    data = load_dataset("ring8", "test")
    out = gm.mixture_modes(data.images, RING8.modes(), RING8.std)  # (N, 2, 1, 1) float32 tensor
    assert out["modes_captured"] == 8 and out["num_modes"] == 8
    assert out["high_quality_fraction"] > 0.99
    assert out["reverse_kl"] < 0.01
    assert sum(out["mode_counts"]) == round(out["high_quality_fraction"] * len(data))
    one = RING8.modes()[3] + RING8.std * rng(0).standard_normal((1000, 2))
    out = gm.mixture_modes(one, RING8.modes(), RING8.std)
    assert out["modes_captured"] == 1 and out["mode_counts"][3] == sum(out["mode_counts"])
    assert out["reverse_kl"] == pytest.approx(math.log(8), rel=1e-12)


def test_mixture_modes_box_rule_and_no_high_quality():
    modes, s = GRID25.modes(), GRID25.std
    c = modes[7]
    pts = np.array([c + [2.9 * s, 2.9 * s],  # 4.1 sigma away, but within 3 sigma on each axis: high quality
                    c + [3.1 * s, 0.0],  # outside the box on x
                    modes[20] + [0.0, -2.0 * s]])
    out = gm.mixture_modes(pts, modes, s)
    assert out["high_quality_fraction"] == pytest.approx(2 / 3)
    assert out["modes_captured"] == 2 and out["mode_counts"][7] == 1 and out["mode_counts"][20] == 1
    assert out["reverse_kl"] == pytest.approx(math.log(25 / 2), rel=1e-12)
    far = gm.mixture_modes(np.full((10, 2), 1.0), modes, s)  # between modes
    assert far["modes_captured"] == 0 and far["high_quality_fraction"] == 0.0 and far["reverse_kl"] is None


# ---------------------------------------------------------------------------------------------
# Parzen window


def test_parzen_equals_the_gaussian_mixture_density():
    stats = pytest.importorskip("scipy.stats")
    from scipy.special import logsumexp

    centers, test, sigma = gaussian(3, 4, 0), gaussian(50, 4, 1), 0.7
    mean, se = gm.parzen_log_likelihood(centers[:1], test, sigma=sigma)
    one = stats.multivariate_normal(centers[0], sigma ** 2 * np.eye(4)).logpdf(test)
    assert mean == pytest.approx(one.mean(), rel=1e-10)
    assert se == pytest.approx(one.std() / math.sqrt(50), rel=1e-8)
    mix = logsumexp([stats.multivariate_normal(c, sigma ** 2 * np.eye(4)).logpdf(test) for c in centers], axis=0)
    assert gm.parzen_log_likelihood(centers, test, sigma=sigma)[0] == pytest.approx((mix - math.log(3)).mean(), rel=1e-10)


@pytest.mark.parametrize("d", [1, 2])
def test_parzen_approaches_the_true_log_likelihood(d):
    samples, test = gaussian(5000, d, 0), gaussian(2000, d, 1)
    true_ll = (-0.5 * (test ** 2).sum(1) - 0.5 * d * math.log(2 * math.pi)).mean()
    sigma = gm.parzen_select_sigma(samples, gaussian(1000, d, 2), np.logspace(-2, 0, 9))
    mean, se = gm.parzen_log_likelihood(samples, test, sigma=sigma)
    assert mean == pytest.approx(true_ll, abs=0.03)
    assert 0.0 < se < 0.05


def test_parzen_selects_the_best_sigma_and_ignores_batch_size():
    samples, val = gaussian(2000, 2, 3), gaussian(300, 2, 4)
    sigmas = np.logspace(-2, 0.5, 8)
    lls = [gm.parzen_log_likelihood(samples, val, sigma=s)[0] for s in sigmas]
    best = gm.parzen_select_sigma(samples, val, sigmas)
    assert best == sigmas[int(np.argmax(lls))]
    assert sigmas[0] < best < sigmas[-1]  # an interior maximum, so the choice is informative
    for bs in (1, 7, 10**6):
        assert gm.parzen_select_sigma(samples, val, sigmas, batch_size=bs) == best
        assert gm.parzen_log_likelihood(samples, val, sigma=best, batch_size=bs) == pytest.approx(
            gm.parzen_log_likelihood(samples, val, sigma=best), rel=1e-12)


def test_parzen_scales_uint8_pixels():
    r = rng(5)
    s8, t8 = r.integers(0, 256, (40, 1, 4, 4), dtype=np.uint8), r.integers(0, 256, (30, 1, 4, 4), dtype=np.uint8)
    want = gm.parzen_log_likelihood(s8.reshape(40, -1) / 255.0, t8.reshape(30, -1) / 255.0, sigma=0.2)
    assert gm.parzen_log_likelihood(torch.from_numpy(s8), t8, sigma=0.2) == pytest.approx(want, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Registry


def test_registry_describes_every_metric():
    assert set(gm.METRICS) == {"fd", "kid", "pr", "dc", "score", "modes", "parzen", "mixture"}
    kinds = {name: spec.input for name, spec in gm.METRICS.items()}
    assert kinds == {"fd": "features", "kid": "features", "pr": "features", "dc": "features",
                     "score": "probs", "modes": "probs", "parzen": "pixels", "mixture": "points"}
    for name, spec in gm.METRICS.items():
        assert spec.name == name and callable(spec.fn) and spec.outputs and spec.citation
        assert spec.fn.__doc__ and spec.fn.__module__.startswith("ganworks.metrics.")
    assert gm.get_metric("kid").fn is gm.kid
    with pytest.raises(GanworksError, match="unknown metric 'fid'; valid: dc, fd"):
        gm.get_metric("fid")


def test_package_init_imports_only_the_pure_metric_modules():
    tree = ast.parse((Path(gm.__file__)).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1}
    assert imported <= {"classes", "frechet", "kid", "mixtures", "parzen", "prdc"}


def test_each_metric_computes_and_formats_itself_beside_its_function():
    from ganworks.metrics.registry import DEFAULT_METRICS, METRIC_NAMES, parse_metrics

    for name, spec in gm.METRICS.items():
        assert callable(spec.compute) and callable(spec.format), name
        # compute and format live in the metric's own module, next to the function they wrap
        assert spec.compute.__module__ == spec.format.__module__ == spec.fn.__module__, name
        assert spec.compute.__name__ == f"compute_{name}" and spec.format.__name__ == f"format_{name}"
    assert METRIC_NAMES == tuple(gm.METRICS) and set(DEFAULT_METRICS) <= set(METRIC_NAMES)
    assert parse_metrics(" kid,fd ,kid") == ["kid", "fd"] and parse_metrics(["pr"]) == ["pr"]
    with pytest.raises(GanworksError, match="unknown metric 'fid'; valid: dc, fd, kid, mixture"):
        parse_metrics("fd,fid")
    with pytest.raises(GanworksError, match="no metrics given; valid: dc, fd"):
        parse_metrics(" , ")
    # the evaluate module keeps its names (scripts import them from there)
    from ganworks.metrics import evaluate as ev

    assert ev.parse_metrics is parse_metrics and ev.DEFAULT_METRICS == DEFAULT_METRICS and callable(ev.format_table)


def test_format_cells_of_a_known_result():
    fd = gm.METRICS["fd"].format({"fd": 123456.0})
    kid = gm.METRICS["kid"].format({"kid": 0.01234567, "kid_std": 0.001, "subsets": 100, "subset_size": 1000})
    mix = gm.METRICS["mixture"].format({"modes_captured": 7, "num_modes": 8, "high_quality_fraction": 0.9,
                                        "reverse_kl": None})
    assert fd == ("1.235e+05", "") and kid == ("0.01235 ± 0.001", "100 subsets of 1000")
    assert mix == ("7/8", "high quality 90.0%, reverse KL n/a")
