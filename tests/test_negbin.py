"""The negative binomial (NB2) reaches its maximum on heavy-tailed counts, or says why not."""

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats

from protection_eval.effects.count_models import NotEstimable, fit_count_model

PLANTED = {"x": 0.5, "d": -0.7}
THETA = 0.05


def make_heavy_tailed(n_areas=40, n_periods=25, *, seed=7, outliers=True):
    """Conflict-like counts: NB2 with theta 0.05 (alpha 20), means in the thousands, outliers."""
    rng = np.random.default_rng(seed)
    n = n_areas * n_periods
    frame = pd.DataFrame(
        {
            "area_id": np.repeat([f"a{i}" for i in range(n_areas)], n_periods),
            "period_index": np.tile(np.arange(n_periods), n_areas),
            "x": rng.normal(size=n),
            "d": (rng.random(n) < 0.4).astype(float),
        }
    )
    area = rng.normal(0, 0.5, n_areas)[np.repeat(np.arange(n_areas), n_periods)]
    period = rng.normal(0, 0.2, n_periods)[frame["period_index"]]
    mu = np.exp(9.5 + area + period + PLANTED["x"] * frame["x"] + PLANTED["d"] * frame["d"])
    y = rng.negative_binomial(THETA, THETA / (THETA + mu)).astype(float)
    if outliers:
        y[[3, n // 3, 2 * n // 3]] = [2.0e6, 3.5e6, 5.0e6]
    frame["y"] = y
    return frame


def _scipy_negbin(y, x):
    """Maximise the NB2 log-likelihood directly (scipy's own pmf), from a plain start."""
    def negll(p):
        mu = np.exp(np.clip(x @ p[:-1], -700, 700))
        r = np.exp(-p[-1])
        return -stats.nbinom.logpmf(y, r, r / (r + mu)).sum()

    def grad(p):
        eta = np.clip(x @ p[:-1], -700, 700)
        mu, a = np.exp(eta), np.exp(p[-1])
        r = 1 / a
        g_beta = x.T @ ((y - mu) / (1 + a * mu))
        g_r = np.sum(special.digamma(y + r) - special.digamma(r) - np.log1p(a * mu)
                     + (mu - y) / (r + mu))
        return -np.append(g_beta, -r * g_r)

    start = np.zeros(x.shape[1] + 1)
    start[0] = np.log(y.mean())
    res = optimize.minimize(negll, start, jac=grad, method="BFGS",
                            options={"gtol": 1e-9, "maxiter": 10_000})
    # The likelihood is flat along the dispersion: finish by solving the score equations.
    root = optimize.root(grad, res.x, method="hybr", tol=1e-13)
    best = root.x if negll(root.x) <= res.fun else res.x
    return best[:-1], float(np.exp(best[-1])), -float(negll(best))


def test_heavy_tailed_counts_converge_and_recover_planted_coefficients():
    frame = make_heavy_tailed()
    assert frame["y"].max() > 1e6 and (frame["y"] > 1e5).sum() >= 10
    fit = fit_count_model(frame, "y", ["x", "d"], family="negbin", cluster="area_id")
    assert fit.converged
    table = fit.to_frame().set_index("term")
    for term, truth in PLANTED.items():
        se = table.loc[term, "std_err"]
        assert abs(table.loc[term, "coef"] - truth) < 3 * se, term
    # alpha 20 planted; the three outliers push it up a little
    assert 1 / THETA * 0.8 < fit.alpha < 1 / THETA * 1.4
    assert fit.theta == pytest.approx(1 / fit.alpha)
    assert 0 < fit.alpha_se < 0.2 * fit.alpha


def test_negbin_without_fixed_effects_equals_direct_scipy_optimisation():
    frame = make_heavy_tailed()
    fit = fit_count_model(frame, "y", ["x", "d"], family="negbin")
    x = np.column_stack([np.ones(len(frame)), frame["x"], frame["d"]])
    beta, alpha, llf = _scipy_negbin(frame["y"].to_numpy(), x)
    np.testing.assert_allclose(fit.params[["const", "x", "d"]], beta, rtol=1e-4)
    assert fit.alpha == pytest.approx(alpha, rel=1e-4)
    assert fit.llf == pytest.approx(llf, abs=1e-6 * abs(llf))


def test_negbin_with_fixed_effects_equals_direct_scipy_optimisation_with_dummies():
    frame = make_heavy_tailed(n_areas=15, n_periods=12, seed=3)
    fit = fit_count_model(frame, "y", ["x", "d"], family="negbin",
                          fixed_effects=("area_id", "period_index"))
    dummies = pd.get_dummies(frame[["area_id", "period_index"]].astype(str), drop_first=True,
                             dtype=float)
    x = np.column_stack([np.ones(len(frame)), frame["x"], frame["d"], dummies])
    beta, alpha, llf = _scipy_negbin(frame["y"].to_numpy(), x)
    np.testing.assert_allclose(fit.params[["x", "d"]], beta[1:3], rtol=1e-4)
    assert fit.alpha == pytest.approx(alpha, rel=1e-4)
    assert fit.llf == pytest.approx(llf, abs=1e-6 * abs(llf))


def test_negbin_on_underdispersed_counts_reports_the_poisson_limit():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=400)})
    # binomial counts vary less than Poisson ones: the likelihood peaks at alpha -> 0
    frame["y"] = rng.binomial(40, np.exp(1.0 + 0.3 * frame["x"]) / 40 / 2)
    fit = fit_count_model(frame, "y", ["x"], family="negbin")
    poisson = fit_count_model(frame, "y", ["x"])
    assert fit.alpha == 0 and fit.theta == np.inf
    assert any("Poisson limit" in n for n in fit.notes)
    assert fit.params["x"] == pytest.approx(poisson.params["x"], rel=1e-6)


@pytest.mark.parametrize("fixed_effects", [(), ("area_id", "period_index")])
def test_separated_regressor_is_not_estimable_in_words(fixed_effects):
    frame = make_heavy_tailed(n_areas=10, n_periods=10, outliers=False)
    frame["sep"] = 0.0
    zero = frame.index[frame["y"] == 0][:5]
    frame.loc[zero, "sep"] = 1.0
    with pytest.raises(NotEstimable, match="sep separates the data"):
        fit_count_model(frame, "y", ["x", "sep"], family="negbin", fixed_effects=fixed_effects)


@pytest.mark.parametrize("fixed_effects", [(), ("area_id", "period_index")])
def test_all_zero_outcome_is_not_estimable(fixed_effects):
    frame = make_heavy_tailed(n_areas=5, n_periods=6).assign(y=0.0)
    with pytest.raises(NotEstimable, match="no incident"):
        fit_count_model(frame, "y", ["x"], family="negbin", fixed_effects=fixed_effects)


def test_all_zero_areas_are_dropped_and_the_rest_is_fitted():
    frame = make_heavy_tailed(n_areas=12, n_periods=10, outliers=False)
    frame.loc[frame["area_id"].isin(["a0", "a1"]), "y"] = 0.0
    fit = fit_count_model(frame, "y", ["x", "d"], family="negbin",
                          fixed_effects=("area_id", "period_index"), cluster="area_id")
    assert fit.data["area_id"].nunique() == 10
    assert any("20 rows dropped" in n for n in fit.notes)
    assert np.isfinite(fit.alpha) and fit.alpha > 1


@pytest.mark.parametrize(("fixed_effects", "match"),
                         [((), "same value in every row"), (("area_id",), "does not vary")])
def test_constant_regressor_is_not_estimable_in_words(fixed_effects, match):
    frame = make_heavy_tailed(n_areas=8, n_periods=10, outliers=False).assign(c=2.0)
    with pytest.raises(NotEstimable, match=match):
        fit_count_model(frame, "y", ["x", "c"], family="negbin", fixed_effects=fixed_effects)


@pytest.mark.parametrize("fixed_effects", [(), ("area_id",)])
def test_one_cluster_is_not_estimable_and_two_clusters_give_a_result(fixed_effects):
    frame = make_heavy_tailed(n_areas=2, n_periods=60, outliers=False)
    one = frame[frame["area_id"] == "a0"]
    with pytest.raises(NotEstimable, match="(one area_id|1 clusters)"):
        fit_count_model(one, "y", ["x"], family="negbin", fixed_effects=fixed_effects,
                        cluster="area_id")
    two = fit_count_model(frame, "y", ["x"], family="negbin", fixed_effects=fixed_effects,
                          cluster="area_id")
    assert np.isfinite(two.to_frame()["std_err"]).all() and two.alpha > 0
