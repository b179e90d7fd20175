"""How well the latent-domain scores tell in-domain rows from out-of-domain ones.

Run ``python benchmarks/confidence.py``; it writes ``benchmarks/results/confidence.md`` and
``confidence.json``. For breast_cancer and digits (stratified 60/20/20 split, seed 0; StandardScaler
fitted on train) a VAEC is trained with three seeds at once (replicas), its latent domain fitted
on the training rows, and the in-domain test rows compared with three kinds of out-of-domain rows:

* ``noise``: N(0, I) rows in the standardized space (right marginals, no structure);
* ``scaled_channels``: the test rows with 3 channels multiplied by 5 in raw units (a unit error),
  chosen per row among its non-zero channels so that the corruption is real;
* ``held_out_class``: digits 5-9 scored by a model trained on 0-4 only. Breast cancer has two
  classes, and a classifier cannot be trained on one, so this shift is not run there.

Scores (larger = more out of domain) compared by AUROC: the latent sigma distance, 1 - confidence
(Bonferroni-combined per-dimension p-values), 1 - max class probability, the input-space
Mahalanobis distance (EmpiricalCovariance on train) and IsolationForest (on train).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.covariance import EmpiricalCovariance
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from pipeline.data.split import stratified_indices
from vaec import VAEC, VAECConfig
from vaec.persistence import atomic_write_text

RESULTS = Path(__file__).parent / "results"
WHY = ""
LATENT_SCORES = ("sigma_distance", "one_minus_confidence")
SCORES = (*LATENT_SCORES, "one_minus_probability", "latent_class_distance",
          "reconstruction_error", "mahalanobis", "isolation_forest")
N_REPLICAS = 3
N_SCALED, SCALE = 3, 5.0
KL_WEIGHTS = (1e-3, 0.1)  # the config default; a KL that shapes the latent (1.0 collapsed it)


def split(X: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The pipeline's stratified 60/20/20 train/val/test split."""
    train, val, test = stratified_indices(y, val_size=0.2, test_size=0.2, seed=seed)
    return {name: (X[rows], y[rows]) for name, rows in
            (("train", train), ("val", val), ("test", test))}


def scale_channels(X_raw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row with ``N_SCALED`` of its non-zero channels multiplied by ``SCALE``."""
    out = X_raw.copy()
    for row in out:
        candidates = np.flatnonzero(row != 0)
        row[rng.choice(candidates, size=min(N_SCALED, len(candidates)), replace=False)] *= SCALE
    return out


def expected_calibration_error(proba: np.ndarray, y_index: np.ndarray, n_bins: int = 10) -> float:
    """Top-label ECE: bin rows by max probability, weight |accuracy - confidence| by bin size."""
    top = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_index
    bins = np.minimum((top * n_bins).astype(int), n_bins - 1)
    return float(sum(
        np.sum(bins == b) / len(top) * abs(correct[bins == b].mean() - top[bins == b].mean())
        for b in range(n_bins) if np.any(bins == b)
    ))


def baseline_scores(X_train: np.ndarray, X: np.ndarray) -> dict[str, np.ndarray]:
    """Input-space detectors fitted on the training rows."""
    forest = IsolationForest(random_state=0).fit(X_train)
    return {
        "mahalanobis": EmpiricalCovariance().fit(X_train).mahalanobis(X),
        "isolation_forest": -forest.score_samples(X),
    }


def latent_class_distance(
    z_train: np.ndarray, y_train: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """Distance of ``z`` to the nearest class centre of the training z_mean, in the metric of
    the pooled within-class covariance (the tied-covariance Gaussian of linear discriminant
    analysis, as in feature-space Mahalanobis detectors)."""
    classes = np.unique(y_train)
    centres = np.array([z_train[y_train == c].mean(axis=0) for c in classes])
    within = z_train - centres[np.searchsorted(classes, y_train)]
    precision = EmpiricalCovariance(assume_centered=True).fit(within).get_precision()
    diff = z[:, None, :] - centres[None]
    return np.sqrt(np.einsum("nkd,de,nke->nk", diff, precision, diff).min(axis=1))


def train_model(data: dict, config: VAECConfig, strategy: str) -> VAEC:
    """Train ``N_REPLICAS`` seeds at once; the validation split picks each one's best epoch."""
    model = VAEC(config, n_replicas=N_REPLICAS)
    model.fit(strategy, *data["train"], *data["val"], record_snapshots=False)
    return model


def _auroc(labels: np.ndarray, score: np.ndarray) -> float | None:
    return None if np.isnan(score).any() else float(roc_auc_score(labels, score))


def evaluate(
    model: VAEC, data: dict, shifted: dict[str, np.ndarray], trains_decoder: bool
) -> dict:
    """Per replica: accuracy, ECE, sigma-flag rates and AUROC of every score on every shift."""
    X_tr, X_te, y_te = data["train"][0], data["test"][0], data["test"][1]
    y_index = np.searchsorted(model.classes_, y_te)
    baselines = {name: baseline_scores(X_tr, np.vstack([X_te, X_out]))
                 for name, X_out in shifted.items()}
    replicas = []
    for r in range(N_REPLICAS):
        model.fit_latent_domain(X_tr, n_draws=10, seed=0, replica=r)
        frame_in = model.predict_with_confidence(X_te, n_sigma=3.0)
        proba = model.predict_proba(X_te, replica=r)
        latent_dim = model.config.latent_dim
        z_train = model.encode(X_tr, replica=r)[0]

        def extra_scores(X: np.ndarray, replica: int = r, z_train: np.ndarray = z_train) -> dict:
            error = ((model.reconstruct(X, replica=replica) - X) ** 2).mean(axis=1)
            z = model.encode(X, replica=replica)[0]
            return {"latent_class_distance": latent_class_distance(z_train, data["train"][1], z),
                    "reconstruction_error": error if trains_decoder else np.full(len(X), np.nan)}

        extra_in = extra_scores(X_te)
        record = {
            "accuracy": float(np.mean(proba.argmax(axis=1) == y_index)),
            "ece": expected_calibration_error(proba, y_index),
            "test_within": {f"{k}_sigma": float(frame_in[f"within_{k}_sigma"].mean())
                            for k in (1, 2, 3)},
            "chi2_within": {f"{k}_sigma": model.latent_domain_.isotropic.within_fraction(k)
                            for k in (1, 2, 3)},
            "test_confidence_below_0.05": float(np.mean(frame_in["confidence"] <= 0.05)),
            "latent_dim": latent_dim,
            "shifts": {},
        }
        for name, X_out in shifted.items():
            frame_out = model.predict_with_confidence(X_out, n_sigma=3.0)
            extra_out = extra_scores(X_out)
            # predict_with_confidence gives columns of equal length
            labels = np.r_[np.zeros(len(frame_in["confidence"])), np.ones(len(frame_out["confidence"]))]
            both = {
                "sigma_distance": np.r_[frame_in["sigma_distance"], frame_out["sigma_distance"]],
                "one_minus_confidence": 1 - np.r_[frame_in["confidence"], frame_out["confidence"]],
                "one_minus_probability": 1 - np.r_[frame_in["probability"],
                                                   frame_out["probability"]],
                **{k: np.r_[extra_in[k], extra_out[k]] for k in extra_in},
                **baselines[name],
            }
            record["shifts"][name] = {
                "auroc": {s: _auroc(labels, both[s]) for s in SCORES},
                "out_confidence_below_0.05": float(np.mean(frame_out["confidence"] <= 0.05)),
                "out_beyond_3_sigma": float(np.mean(~frame_out["within_3_sigma"])),
            }
        replicas.append(record)
    return {"replicas": replicas}


def run_dataset(name: str, X_raw: np.ndarray, y: np.ndarray, setups: list[dict],
                epochs: int) -> list[dict]:
    """Every (strategy, latent_dim) setup on one dataset, all shifts."""
    rng = np.random.default_rng(0)
    raw = split(X_raw, y)
    scaler = StandardScaler().fit(raw["train"][0])
    data = {k: (scaler.transform(X), yy) for k, (X, yy) in raw.items()}
    X_te_raw = raw["test"][0]
    shifted = {
        "noise": rng.standard_normal((len(X_te_raw), X_raw.shape[1])),
        "scaled_channels": scaler.transform(scale_channels(X_te_raw, rng)),
    }
    held_out = None
    if len(np.unique(y)) > 2:
        keep = {k: yy < 5 for k, (_, yy) in raw.items()}
        scaler_in = StandardScaler().fit(raw["train"][0][keep["train"]])
        held_out = {k: (scaler_in.transform(X[keep[k]]), yy[keep[k]]) for k, (X, yy) in raw.items()}
        held_out_rows = scaler_in.transform(X_te_raw[~keep["test"]])
    out = []
    for setup in setups:
        start = time.perf_counter()
        n_classes = len(np.unique(y))
        # the learning rate its recorded results were measured with
        config = VAECConfig(n_inputs=X_raw.shape[1], n_classes=n_classes, epochs=epochs,
                            latent_dim=setup["latent_dim"], kl_weight=setup["kl_weight"],
                            learning_rate=3e-3, seed=0)
        trains_decoder = setup["strategy"] == "all_parts"
        result = evaluate(train_model(data, config, setup["strategy"]), data, shifted,
                          trains_decoder)
        if held_out is not None:
            config_in = config.replace(n_classes=5)
            model_in = train_model(held_out, config_in, setup["strategy"])
            extra = evaluate(model_in, held_out, {"held_out_class": held_out_rows},
                             trains_decoder)
            for rec, rec_in in zip(result["replicas"], extra["replicas"], strict=True):
                rec["shifts"]["held_out_class"] = rec_in["shifts"]["held_out_class"]
        result.update(dataset=name, seconds=time.perf_counter() - start, **setup)
        print(f"{name} {setup} {result['seconds']:.1f}s", file=sys.stderr)
        out.append(result)
    return out


def _mean_sd(values: list[float | None]) -> str:
    if any(v is None for v in values):
        return "-"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def _setup(run: dict) -> str:
    return f"{run['strategy']}, kl {run['kl_weight']:g}, D={run['latent_dim']}"


def _auroc_mean(run: dict, shift: str, score: str) -> float:
    return float(np.mean([r["shifts"][shift]["auroc"][score] for r in run["replicas"]]))


def markdown(payload: dict) -> str:
    """The results page: verdict, AUROC tables, calibration table, and why it falls short."""
    runs = payload["runs"]
    lines = [
        "# Latent-domain confidence against out-of-domain rows",
        "",
        f"Written by `benchmarks/confidence.py` ({payload['epochs']} epochs, best epoch by "
        f"validation F1, {payload['n_replicas']} seeds per setup as replicas; mean ± sd over "
        "the seeds). Stratified 60/20/20 split (seed 0), StandardScaler fitted on train. "
        "Both strategies of the method's suggested use are run: `var_mlp_classifier` (encoder + "
        "head, sampled z in training) and `all_parts` (with the decoder), each with the config's "
        "default KL weight 1e-3 and with KL weight 0.1 (at 1.0 the latent collapsed and "
        "digits accuracy fell to ~0.25). The latent domain is fitted on the training "
        "rows (10 draws per row, seed 0). AUROC: in-domain test rows (label 0) against "
        "out-of-domain rows (label 1); larger scores mean 'more out of domain', 0.5 is chance, "
        "below 0.5 the score points the wrong way.",
        "",
        "Shifts: **noise** = N(0, I) rows in the standardized space; **scaled_channels** = the "
        f"test rows with {N_SCALED} of their non-zero channels multiplied by {SCALE:g} in raw "
        "units; **held_out_class** (digits only) = digits 5-9 scored by a model trained on 0-4. "
        "Breast cancer has two classes and a classifier cannot be trained on one, so it has no "
        "held-out-class shift.",
        "",
        "Scores: `sigma` = latent sigma distance (isotropic Gaussian on sampled z); `1-conf` = "
        "1 - confidence (Bonferroni-combined per-dimension prediction-interval t p-values on "
        "z_mean); `1-prob` = 1 - max class probability; `z-class` = distance to the nearest class "
        "centre of the training z_mean in the pooled within-class covariance (not part of the "
        "product, shown for direction); `recon` = mean squared reconstruction error (`all_parts` "
        "only); `Mahalanobis` = input-space EmpiricalCovariance; `IForest` = IsolationForest.",
        "",
        "## Verdict",
        "",
    ]
    target_met = []
    for run in runs:
        shifts = list(run["replicas"][0]["shifts"])
        wins = [s for s in shifts if _auroc_mean(run, s, "one_minus_confidence")
                >= _auroc_mean(run, s, "mahalanobis")]
        target_met.append(len(wins) >= 2)
        lines.append(
            f"- {run['dataset']}, {_setup(run)}: 1 - confidence >= Mahalanobis on "
            f"{len(wins)} of {len(shifts)} shifts" + (f" ({', '.join(wins)})" if wins else "")
        )
    inverted = sum(_auroc_mean(run, s, "sigma_distance") < 0.5
                   for run in runs for s in run["replicas"][0]["shifts"])
    cells = sum(len(run["replicas"][0]["shifts"]) for run in runs)
    lines += [
        "",
        f"**Target (latent confidence AUROC >= Mahalanobis on at least two of the three shifts) "
        f"met in {sum(target_met)} of {len(runs)} setups.** The sigma distance has AUROC below "
        f"0.5 in {inverted} of {cells} (setup, shift) cells: out-of-domain rows land *nearer* the "
        "latent centre than in-domain rows.",
        "",
    ]
    for dataset in dict.fromkeys(run["dataset"] for run in runs):
        lines += [f"## AUROC, {dataset}", "",
                  "| setup | shift | sigma | 1-conf | 1-prob | z-class | recon | Mahalanobis "
                  "| IForest |", "|" + "---|" * 9]
        for run in (r for r in runs if r["dataset"] == dataset):
            for shift in run["replicas"][0]["shifts"]:
                cells_ = [_mean_sd([r["shifts"][shift]["auroc"][s] for r in run["replicas"]])
                          for s in SCORES]
                lines.append(f"| {_setup(run)} | {shift} | " + " | ".join(cells_) + " |")
        lines.append("")
    lines += [
        "## In-domain test rows: accuracy, calibration, sigma flags",
        "",
        "ECE: top-label expected calibration error of `predict_proba`, 10 equal-width bins. "
        "Within k sigma: share of test rows whose z_mean lies within k sigma, next to the "
        "chi-square share expected for draws of the fitted Gaussian. False alarms: share of "
        "in-domain test rows with confidence <= 0.05 (a valid test keeps it at or below 0.05).",
        "",
        "| dataset | setup | accuracy | ECE | within 1 / 2 / 3 sigma (chi2) | false alarms |",
        "|" + "---|" * 6,
    ]
    for run in runs:
        reps = run["replicas"]
        within = " / ".join(
            f"{np.mean([r['test_within'][f'{k}_sigma'] for r in reps]):.2f}"
            f" ({reps[0]['chi2_within'][f'{k}_sigma']:.2f})" for k in (1, 2, 3))
        lines.append(
            f"| {run['dataset']} | {_setup(run)} | {_mean_sd([r['accuracy'] for r in reps])} | "
            f"{_mean_sd([r['ece'] for r in reps])} | {within} | "
            f"{_mean_sd([r['test_confidence_below_0.05'] for r in reps])} |"
        )
    lines += ["", WHY, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and write the results files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite confidence.md from an existing confidence.json")
    args = parser.parse_args(argv)
    if args.report_only:
        payload = json.loads((args.out / "confidence.json").read_text(encoding="utf-8"))
        atomic_write_text(args.out / "confidence.md", markdown(payload))
        return
    # small full-batch models: one thread avoids oversubscription on a shared 2-core machine
    torch.set_num_threads(1)
    strategies = ("var_mlp_classifier", "all_parts")
    grid = [(s, kl) for s in strategies for kl in KL_WEIGHTS]
    runs = run_dataset("breast_cancer", *load_breast_cancer(return_X_y=True),
                       [{"strategy": s, "kl_weight": kl, "latent_dim": 2} for s, kl in grid],
                       args.epochs)
    runs += run_dataset("digits", *load_digits(return_X_y=True),
                        [{"strategy": s, "kl_weight": kl, "latent_dim": d}
                         for s, kl in grid for d in (2, 4, 8)], args.epochs)
    payload = {"epochs": args.epochs, "n_replicas": N_REPLICAS, "runs": runs}
    atomic_write_text(args.out / "confidence.json", json.dumps(payload, indent=2))
    atomic_write_text(args.out / "confidence.md", markdown(payload))


if __name__ == "__main__":
    main()
