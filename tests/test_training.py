"""Training: inputs checked before work, kept images only, checkpoints with config, exact resume, overfitting."""

from __future__ import annotations

import math
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from recipe import ROOT, recipe, write_params
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import wssam.train.loop as loop
import wssam.train.stage as stage_module
from wssam.io import InputError, read_json, write_png, write_probability, write_table
from wssam.models.builder import build_model
from wssam.models.checkpoint import read_checkpoint, save_checkpoint
from wssam.prepare.layout import image_file, sparse_file
from wssam.prepare.manifest import manifest_row, write_manifest
from wssam.score.layout import SELECTION_FILE, label_path, weight_path
from wssam.train import run_state
from wssam.train.config import TrainConfig
from wssam.train.dataset import TrainingImages, epoch_batches, load_records, split_names
from wssam.train.ema import WeightAverage
from wssam.train.loop import batch_loss, make_optimizer, train_epoch
from wssam.train.losses import pseudo_pixel_weight
from wssam.train.run_state import RunIdentity, why_not_continued
from wssam.train.stage import train

SIZE = 64


def _disk_scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured disk on a textured background: RGB uint8 (H, W, 3) and its bool mask (H, W)."""
    yy, xx = np.mgrid[:size, :size]
    cy, r = rng.uniform(0.35, 0.65, 2) * size, size * rng.uniform(0.2, 0.3)
    mask = (yy - cy[0]) ** 2 + (xx - cy[1]) ** 2 < r**2
    background = 0.35 + 0.25 * rng.random((size, size, 3))
    stripes = 0.5 + 0.3 * np.sin(xx / 1.5 + yy / 3.0)[..., None] * np.array([1.0, 0.6, 0.3])
    image = np.where(mask[..., None], stripes + 0.1 * rng.random((size, size, 3)), background)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8), mask


def make_training_data(root: Path, n_images: int = 6, kept: int | None = None, size: int = SIZE) -> tuple[Path, Path]:
    """Write a manifest, images, scribbles, pseudo labels, weights and selection.csv; returns (manifest, scored)."""
    rng = np.random.default_rng(0)
    train_dir, scored = root / "prepared" / "train", root / "scored"
    rows, selection = [], []
    for i in range(n_images):
        name = f"img{i:02d}"
        image, mask = _disk_scene(rng, size)
        sparse = np.zeros((size, size), np.uint8)
        ys, xs = np.nonzero(mask)
        sparse[ys[len(ys) // 2], xs.min() + 2 : xs.max() - 2] = 1
        sparse[2:4, 2 : size - 2] = 2
        row = manifest_row(name=name, image=image_file(name), size=(size, size), sparse=sparse_file(name, "scribble"),
                           labels=sparse, sparse_kind="scribble", sparse_source="simulated")  # fmt: skip
        write_png(train_dir / row["image"], image)
        write_png(train_dir / row["sparse"], sparse)
        write_probability(label_path(scored, name), np.where(mask, 0.9, 0.1).astype(np.float32))
        write_probability(weight_path(scored, name), np.full((size, size), 0.6, np.float32))
        rows.append(row)
        selection.append({"name": name, "mean_entropy": 0.01 * i, "kept": i < (n_images if kept is None else kept)})
    write_manifest(train_dir / "manifest.csv", pd.DataFrame(rows))
    write_table(scored / SELECTION_FILE, pd.DataFrame(selection))
    return train_dir / "manifest.csv", scored


def tiny_config(**changes: object) -> TrainConfig:
    """params.yaml's recipe on a tiny baseline, 64 px, fp32 (pinned: results must not depend on the host's bf16)."""
    tiny = {
        "model": {"name": "baseline", "backbone": "resnet18", "backbone_weights": "none", "width": 16},
        "epochs": 2, "batch_size": 2, "image_size": SIZE, "val_fraction": 0.25, "precision": "fp32",
        "augment": {"rotation_degrees": 5.0},
    }  # fmt: skip
    return recipe(TrainConfig, "train", **tiny).replace(**changes)


def _run(tmp_path: Path, manifest: Path, scored: Path, out: str, config: TrainConfig, **kwargs: object) -> dict:
    return train(
        config=config,
        manifest=manifest,
        scored_dir=scored,
        output_dir=tmp_path / out / "model",
        log_dir=tmp_path / out / "log",
        metrics_path=tmp_path / out / "train.json",
        device=torch.device("cpu"),
        **kwargs,
    )


def test_train_writes_checkpoints_logs_and_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # dvclive must not create or edit a dvc.yaml
    manifest, scored = make_training_data(tmp_path, n_images=7, kept=5)
    metrics = _run(tmp_path, manifest, scored, "run", tiny_config(epochs=1))
    assert metrics["train_images"] + metrics["val_images"] == 5  # kept images only
    assert metrics["val_images"] == 1 and metrics["epochs"] == 1 and metrics["best_epoch"] == 1
    assert set(read_json(tmp_path / "run" / "train.json")) == {
        "best_epoch", "best_val_mae", "best_val_loss", "final_train_loss", "epochs", "train_images", "val_images",
        "params_millions",
    }  # fmt: skip
    assert metrics["seconds"] > 0  # returned, not written: the same run writes the same file
    assert 0 <= metrics["best_val_mae"] <= 1 and metrics["params_millions"] > 1
    best = read_checkpoint(tmp_path / "run" / "model" / "model.pt")
    assert TrainConfig.model_validate(best["train_config"]) == tiny_config(epochs=1)
    assert best["model_config"] == tiny_config().model.to_dict() and best["input_size"] == SIZE
    last = read_checkpoint(tmp_path / "run" / "model" / "last.pt")
    assert {"optimizer", "run", "fingerprint", "weights", "ema"} <= set(last)
    assert {"step", "rng", "history", "best", "best_weights", "seconds"} == set(last["run"])
    assert (tmp_path / "run" / "log" / "metrics.json").is_file()
    assert not (tmp_path / "dvc.yaml").exists()


def test_the_kept_network_is_the_moving_average_of_the_weights_and_buffers() -> None:
    """decay 0.9: the first update copies the weights, each later one moves the average a tenth of the way; batch
    norm's running statistics are averaged too; decay 0 keeps the trained network itself."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    average = WeightAverage(model, 0.9)
    history = []
    for _ in range(3):
        with torch.no_grad():
            for tensor in (*model.parameters(), model[1].running_mean):
                tensor.add_(torch.randn_like(tensor))
        history.append({k: v.clone() for k, v in model.state_dict().items()})
        average.update()
    kept = average.network.state_dict()
    for key in ("0.weight", "0.bias", "1.weight", "1.running_mean"):
        expected = 0.9 * (0.9 * history[0][key] + 0.1 * history[1][key]) + 0.1 * history[2][key]
        torch.testing.assert_close(kept[key], expected)
    assert not torch.equal(kept["0.weight"], model.state_dict()["0.weight"])
    resumed = WeightAverage(model, 0.9)
    resumed.restore(average.state())
    assert all(torch.equal(v, resumed.network.state_dict()[k]) for k, v in kept.items())
    assert WeightAverage(model, 0.0).network is model


def test_the_weight_average_computes_what_averaged_model_computes() -> None:
    """The fast update (tensor lists gathered once) gives AveragedModel's EMA bit for bit over several steps,
    batch norm's integer step counters (averaged and truncated as AveragedModel does) included."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 1, 1))
    reference = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    average = WeightAverage(model, 0.9)
    for step in range(5):
        with torch.no_grad():
            for _ in range(step * 7):  # the counters grow unevenly, so their average is not the counter itself
                model(torch.rand(2, 3, 6, 6))
            for tensor in model.parameters():
                tensor.add_(torch.randn_like(tensor))
        reference.update_parameters(model)
        average.update()
    expected, kept = reference.state_dict(), average.state()
    assert kept.keys() == expected.keys()
    assert [k for k in expected if not torch.equal(expected[k], kept[k])] == []
    assert int(kept["module.1.num_batches_tracked"]) not in (0, int(model[1].num_batches_tracked))


def test_training_on_a_gpu_makes_it_the_process_cuda_device_before_the_group_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under torchrun on GPUs every process opens an nccl group whose collectives run on the current CUDA device:
    left at GPU 0 in every process, the first one (rank 0's resume decision) fails or hangs."""
    calls: list[tuple[str, object]] = []

    class OpenedError(Exception):
        pass

    @contextmanager
    def group(world: object, backend: str):
        calls.append(("group", backend))
        raise OpenedError
        yield

    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("set_device", torch.device(device))))
    monkeypatch.setattr(stage_module, "process_group", group)
    with pytest.raises(OpenedError):
        train(config=tiny_config(), manifest=tmp_path / "m.csv", scored_dir=tmp_path, output_dir=tmp_path / "model",
              log_dir=tmp_path / "log", metrics_path=tmp_path / "t.json", device=torch.device("cuda", 1))  # fmt: skip
    assert calls == [("set_device", torch.device("cuda", 1)), ("group", "nccl")]


def test_resume_off_trains_an_unfinished_run_from_scratch_and_is_no_part_of_the_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """launcher.resume says how to run, not what: the checkpoints hold no trace of it (switching it retrained)."""
    manifest, scored = make_training_data(tmp_path, n_images=6)
    config = tiny_config(epochs=2)
    _run(tmp_path, manifest, scored, "run", config, stop_after_epochs=1)
    capsys.readouterr()
    _run(tmp_path, manifest, scored, "run", config, resume=False)
    assert "resuming" not in capsys.readouterr().out
    history = read_checkpoint(tmp_path / "run" / "model" / "last.pt")["run"]["history"]
    assert [entry["epoch"] for entry in history] == [1, 2]
    assert "resume" not in read_checkpoint(tmp_path / "run" / "model" / "model.pt")["train_config"]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_interrupted_retrain_leaves_the_finished_runs_outputs_as_they_were(tmp_path: Path) -> None:
    """model.pt was written at every new best epoch and the log in place: a retrain stopped after its first epoch
    left a half-trained model.pt beside the old run's metrics, which predict, run by hand, would then use."""
    manifest, scored = make_training_data(tmp_path, n_images=6)
    _run(tmp_path, manifest, scored, "run", tiny_config(epochs=1))
    outputs = [tmp_path / "run" / name for name in ("model/model.pt", "log", "train.json")]
    before = {str(path): _files(path) if path.is_dir() else path.read_bytes() for path in outputs}
    _run(tmp_path, manifest, scored, "run", tiny_config(epochs=2, lr=0.003), stop_after_epochs=1)
    assert read_checkpoint(tmp_path / "run" / "model" / "last.pt")["epoch"] == 1  # the new run did train
    assert {str(path): _files(path) if path.is_dir() else path.read_bytes() for path in outputs} == before
    assert not [p for p in (tmp_path / "run").rglob("*") if "wssam-tmp" in p.name]


def test_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    manifest, scored = make_training_data(tmp_path, n_images=6)
    config = tiny_config(epochs=2)
    straight = _run(tmp_path, manifest, scored, "straight", config)
    _run(tmp_path, manifest, scored, "resumed", config, stop_after_epochs=1)
    assert read_checkpoint(tmp_path / "resumed" / "model" / "last.pt")["epoch"] == 1
    resumed = _run(tmp_path, manifest, scored, "resumed", config)
    a = read_checkpoint(tmp_path / "straight" / "model" / "last.pt")
    b = read_checkpoint(tmp_path / "resumed" / "model" / "last.pt")
    assert a["run"]["step"] == b["run"]["step"]
    assert a["run"]["history"][-1]["train_loss"] == b["run"]["history"][-1]["train_loss"]
    for key, value in a["weights"].items():
        assert torch.equal(value, b["weights"][key]), key
    best_a = read_checkpoint(tmp_path / "straight" / "model" / "model.pt")
    best_b = read_checkpoint(tmp_path / "resumed" / "model" / "model.pt")
    assert best_a["epoch"] == best_b["epoch"]
    assert all(torch.equal(value, best_b["weights"][key]) for key, value in best_a["weights"].items())
    for key in ("best_epoch", "best_val_mae", "final_train_loss", "epochs"):
        assert straight[key] == resumed[key]


def test_a_finished_run_is_trained_again_to_the_same_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`dvc repro --force` (or an edited loss) reruns train with a finished last.pt beside it: it must retrain, not
    "resume" past the end; the same run writes byte-identical model.pt, last-epoch weights and metrics."""
    manifest, scored = make_training_data(tmp_path, n_images=4)
    _run(tmp_path, manifest, scored, "run", tiny_config(epochs=1))
    model_path, metrics_path = tmp_path / "run" / "model" / "model.pt", tmp_path / "run" / "train.json"
    first_model, first_metrics = model_path.read_bytes(), metrics_path.read_bytes()
    capsys.readouterr()
    model_path.unlink()  # DVC removes a stage's outputs before running it
    _run(tmp_path, manifest, scored, "run", tiny_config(epochs=1))
    out = capsys.readouterr().out
    assert "that run finished; training from scratch" in out and "epoch 1/1:" in out and "resuming" not in out
    assert model_path.read_bytes() == first_model
    assert metrics_path.read_bytes() == first_metrics


def test_only_an_unfinished_run_with_the_same_code_is_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest, scored = make_training_data(tmp_path, n_images=4)
    config = tiny_config(epochs=2)
    _run(tmp_path, manifest, scored, "run", config, stop_after_epochs=1)
    last = read_checkpoint(tmp_path / "run" / "model" / "last.pt")
    fingerprint = last["fingerprint"]
    assert why_not_continued(last, RunIdentity(config, fingerprint)) is None
    assert why_not_continued(last, RunIdentity(tiny_config(epochs=1), fingerprint)) == "the train config changed"
    assert why_not_continued(last, RunIdentity(config, "other data")) == "the training data changed"
    assert why_not_continued(last, RunIdentity(config, fingerprint, processes=2)) == (
        "it was trained by 1 processes, this run has 2"
    )
    # train.precision: auto resolves per machine: a run begun in fp32 is not continued in bf16 elsewhere
    assert why_not_continued(last, RunIdentity(config, fingerprint, precision="bf16")) == (
        f"it was trained in fp32, this run computes in bf16 (train.precision: {config.precision})"
    )
    monkeypatch.setattr(run_state, "code_fingerprint", lambda: "edited sources")
    assert why_not_continued(last, RunIdentity(config, fingerprint)) == "the code changed"


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished tiny run (1 epoch): its folder holds the data, model/ and train.json."""
    root = tmp_path_factory.mktemp("clean")
    manifest, scored = make_training_data(root, n_images=4)
    _run(root, manifest, scored, "run", tiny_config(epochs=1))
    return root


@pytest.mark.parametrize("damage", ["random_bytes", "truncated", "malicious_pickle", "wrong_contents"])
def test_an_unusable_last_pt_is_set_aside_and_training_starts_afresh(
    clean_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    """A bad last.pt used to crash every later `dvc repro` until deleted by hand."""
    clean_last = clean_run / "run" / "model" / "last.pt"
    last = tmp_path / "run" / "model" / "last.pt"
    last.parent.mkdir(parents=True)
    if damage == "random_bytes":
        last.write_bytes(np.random.default_rng(0).bytes(4096))
    elif damage == "truncated":
        last.write_bytes(clean_last.read_bytes()[:5000])
    elif damage == "malicious_pickle":
        torch.save({"weights": _RunsCode()}, last)
    else:  # readable, but its run state cannot be restored
        save_checkpoint(last, {**read_checkpoint(clean_last), "epoch": 0, "run": {"rng": "not a state"}})
    capsys.readouterr()
    manifest = clean_run / "prepared" / "train" / "manifest.csv"
    _run(tmp_path, manifest, clean_run / "scored", "run", tiny_config(epochs=1))
    out = capsys.readouterr().out
    warning = [line for line in out.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "last.pt" in warning[0] and "last.pt.unusable" in warning[0], out
    assert "training from scratch" in warning[0] and "this must never run" not in out
    assert (tmp_path / "run" / "model" / "last.pt.unusable").is_file()
    clean_model = (clean_run / "run" / "model" / "model.pt").read_bytes()
    assert (tmp_path / "run" / "model" / "model.pt").read_bytes() == clean_model


class _RunsCode:
    """A pickle that would run a command when loaded without weights_only."""

    def __reduce__(self) -> tuple:
        return (print, ("this must never run",))


def test_changed_config_starts_from_scratch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest, scored = make_training_data(tmp_path, n_images=4)
    _run(tmp_path, manifest, scored, "run", tiny_config(epochs=1))
    _run(tmp_path, manifest, scored, "run", tiny_config(epochs=1, lr=2e-4))
    assert "the train config changed; training from scratch" in capsys.readouterr().out


def test_input_errors_are_found_before_training(tmp_path: Path) -> None:
    manifest, scored = make_training_data(tmp_path, n_images=3)
    (scored / "labels" / "img01.png").unlink()
    with pytest.raises(InputError, match="img01.png"):
        load_records(manifest, scored)
    write_probability(scored / "labels" / "img01.png", np.zeros((SIZE, SIZE + 8), np.float32))
    with pytest.raises(InputError, match=rf"img01.png.*{SIZE}x{SIZE + 8}.*{SIZE}x{SIZE}"):
        load_records(manifest, scored)
    write_probability(scored / "labels" / "img01.png", np.zeros((SIZE, SIZE), np.float32))
    (scored / "weights" / "img02.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(InputError, match=r"img02.png: cannot read image .*rerun the score stage"):
        load_records(manifest, scored)


def test_a_diverged_run_stops_at_its_first_nan_loss_and_keeps_no_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NaN loss used to train on: NaN weights, no best epoch (NaN val MAE), exit 0 and an older model.pt left in
    place, or with val_fraction 0 a NaN network kept as the result."""
    manifest, scored = make_training_data(tmp_path, n_images=6)
    real_total_loss, calls = loop.total_loss, []

    def diverging(*args: object, **kwargs: object):
        loss, parts = real_total_loss(*args, **kwargs)
        calls.append(1)
        return (loss * torch.nan, {**parts, "total": math.nan}) if len(calls) == 2 else (loss, parts)

    monkeypatch.setattr(loop, "total_loss", diverging)
    for val_fraction in (0.0, 0.3):
        calls.clear()
        with pytest.raises(InputError, match=r"training loss is nan at step 2 \(epoch 1\): .*lower 'train.lr'"):
            _run(tmp_path, manifest, scored, f"run{val_fraction}", tiny_config(epochs=2, batch_size=2,
                                                                                val_fraction=val_fraction))  # fmt: skip
        assert not (tmp_path / f"run{val_fraction}" / "model" / "model.pt").exists()


def test_a_missing_backbone_weights_file_is_one_line_before_any_process_starts(tmp_path: Path) -> None:
    """With launcher.nproc_per_node 2 each process used to build the network and report the missing file."""
    manifest, scored = make_training_data(tmp_path, n_images=4)
    params = write_params(tmp_path / "params.yaml", train={"model": {"backbone_weights": "data/backbones/r18.pth"}},
                          launcher={"nproc_per_node": 2})  # fmt: skip
    command = [sys.executable, str(ROOT / "stages" / "train.py"), "--params", str(params), "--manifest", str(manifest),
               "--scored-dir", str(scored), "--output", str(tmp_path / "model"), "--log-dir", str(tmp_path / "log"),
               "--metrics", str(tmp_path / "train.json"), "--quiet"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: data/backbones/r18.pth: backbone weights file not found")
    assert not (tmp_path / "model").exists()


def test_no_kept_image_tells_to_raise_tau(tmp_path: Path) -> None:
    manifest, scored = make_training_data(tmp_path, n_images=3, kept=0)
    with pytest.raises(InputError, match="score.tau"):
        load_records(manifest, scored)


@pytest.mark.parametrize("entropy_weights", [True, False])
def test_pixels_rotated_in_from_outside_weigh_nothing_with_or_without_entropy_weights(
    tmp_path: Path, entropy_weights: bool
) -> None:
    """train.loss.entropy_weighting false (the no-weighting ablation, the released code's setting) makes the weight 1
    on the image, and still 0 where a rotation fills in from outside: it was 1 there, so the fill (target 0) was
    learned as confident background."""
    manifest, scored = make_training_data(tmp_path, n_images=1)
    augment = tiny_config().augment.replace(hflip=0.0, rotation_probability=1.0, rotation_degrees=20.0,
                                            crop="random", crop_scale=1.0)  # fmt: skip
    item = TrainingImages(load_records(manifest, scored), SIZE, augment, 0, entropy_weights=entropy_weights)[0]
    weight = pseudo_pixel_weight(item["target"], item["weight"], ignore_band=())[0]
    corners = weight[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.tolist() == [0.0] * 4 and item["target"][0, 0, 0] == 0.0
    if not entropy_weights:
        assert torch.allclose(weight[SIZE // 4 : 3 * SIZE // 4, SIZE // 4 : 3 * SIZE // 4], torch.ones(()), atol=1e-5)


def test_ramp_and_learning_rate_follow_the_whole_run_not_the_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The released code restarts the uncertainty ramp every epoch: here the global step keeps counting."""
    manifest, scored = make_training_data(tmp_path, n_images=5)
    config = tiny_config(epochs=2, batch_size=2)
    images = TrainingImages(load_records(manifest, scored), SIZE, config.augment, config.seed, entropy_weights=True)
    seen: list[tuple[int, int]] = []
    monkeypatch.setattr(loop, "uncertainty_ramp", lambda step, total: seen.append((step, total)) or 0.0)
    torch.manual_seed(0)
    model = build_model(config.model)
    optimizer = make_optimizer(model, config)
    step = 0
    for epoch in range(config.epochs):
        _, _, steps = train_epoch(
            model, optimizer, images, config, epoch=epoch, first_step=step, device=torch.device("cpu"), bf16=False
        )
        step += steps
    assert [s for s, _ in seen] == list(range(step)) and {t for _, t in seen} == {step}


def test_the_released_per_epoch_ramp_is_selectable(tmp_path: Path) -> None:
    manifest, scored = make_training_data(tmp_path, n_images=5)
    released = tiny_config(epochs=2, batch_size=2)
    released = released.replace(loss=released.loss.replace(uncertainty_ramp="released_per_epoch"))
    ramps = [loop.uncertainty_weight(released, step=step, total_steps=4, per_epoch=2) for step in range(4)]
    assert ramps[0] == ramps[2] < ramps[1] == ramps[3] == 1.0
    assert loop.learning_rate(released.replace(lr_schedule="released_t40"), step=0, total_steps=4, epoch=39) == (
        pytest.approx(released.min_lr)
    )
    metrics = _run(tmp_path, manifest, scored, "released", released.replace(lr_schedule="released_t40"))
    assert metrics["epochs"] == 2


@pytest.mark.slow
def test_the_released_network_trains_one_step_at_384(tmp_path: Path) -> None:
    manifest, scored = make_training_data(tmp_path, n_images=2, size=400)
    config = tiny_config(epochs=1, batch_size=2, image_size=384, val_fraction=0.0)
    config = config.replace(model={"name": "released", "backbone": "resnet50", "backbone_weights": "none",
                                   "width": 128, "grouping": True})  # fmt: skip
    metrics = _run(tmp_path, manifest, scored, "released", config)
    assert metrics["epochs"] == 1 and metrics["train_images"] == 2 and metrics["val_images"] == 0
    assert metrics["params_millions"] == pytest.approx(46.522032) and np.isfinite(metrics["final_train_loss"])


def test_the_fused_optimizer_takes_adams_steps() -> None:
    """The stage's optimizer (torch's fused Adam) moves the weights as the per-tensor Adam loop does, with the
    recipe's learning rate: three steps on the same gradients agree to float32 rounding."""
    config = tiny_config(lr=1e-3)
    torch.manual_seed(0)
    fused_model = build_model(config.model)
    loop_model = build_model(config.model)
    loop_model.load_state_dict(fused_model.state_dict())
    start = [p.detach().clone() for p in fused_model.parameters()]
    fused = make_optimizer(fused_model, config)
    per_tensor = torch.optim.Adam(loop_model.parameters(), lr=config.lr, foreach=False)
    assert fused.defaults["fused"] and fused.defaults["lr"] == config.lr
    for step in range(3):
        for a, b in zip(fused_model.parameters(), loop_model.parameters(), strict=True):
            a.grad = torch.randn(a.shape, generator=torch.Generator().manual_seed(step)) * 1e-2
            b.grad = a.grad.clone()
        fused.step()
        per_tensor.step()
    with torch.no_grad():
        pairs = zip(fused_model.parameters(), loop_model.parameters(), strict=True)
        apart = [float((a - b).abs().max()) for a, b in pairs]
        moved = [float((a - b).abs().max()) for a, b in zip(fused_model.parameters(), start, strict=True)]
    assert max(apart) < 1e-6 and min(moved) > 1e-4


def test_split_and_epoch_order_are_seeded() -> None:
    names = [f"n{i}" for i in range(20)]
    train_names, val_names = split_names(names, 0.15, seed=3)
    assert len(val_names) == 3 and not set(train_names) & set(val_names)
    assert split_names(list(reversed(names)), 0.15, seed=3) == (train_names, val_names)
    assert split_names(names, 0.0, seed=3) == (sorted(names), [])
    first = epoch_batches(9, 4, seed=0, epoch=0)
    assert first == epoch_batches(9, 4, seed=0, epoch=0) != epoch_batches(9, 4, seed=0, epoch=1)
    assert [len(b) for b in first] == [4, 5]  # a lone last image joins the batch before
    assert sorted(i for b in first for i in b) == list(range(9))


def test_wssam_network_overfits_one_image() -> None:
    """The demo network (resnet18 WS-SAM, 64 px) fits one textured disk through the real loss to IoU >= 0.9.

    IoU is read from the training-mode forward (batch statistics): with one image, batch-norm running statistics
    lag the weights, which is a property of batch norm and not of the loss or the network.
    """
    rng = np.random.default_rng(1)
    image, mask = _disk_scene(rng, SIZE)
    target = torch.from_numpy(mask).float()[None, None]
    batch = {
        "image": torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255,
        "target": target,
        "weight": torch.ones_like(target),
        "sparse": torch.zeros_like(target, dtype=torch.long),
    }
    config = tiny_config(lr=1e-3)
    config = config.replace(model=config.model.replace(name="wssam", width=32))
    torch.manual_seed(0)
    model = build_model(config.model)
    optimizer = make_optimizer(model, config)
    iou = 0.0
    for _ in range(60):
        loss, _, logits = batch_loss(model, batch, config, 0.0, torch.device("cpu"), bf16=False)
        predicted, truth = torch.sigmoid(logits) > 0.5, target > 0.5
        iou = float((predicted & truth).sum() / (predicted | truth).sum())
        if iou >= 0.9:
            break
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), config.grad_clip)
        optimizer.step()
    assert iou >= 0.9


def test_the_data_fingerprint_covers_every_file_training_reads(tmp_path: Path) -> None:
    """A resumed run must not continue on changed inputs: images and scribbles count, not only the pseudo labels."""
    from wssam.train.dataset import data_fingerprint

    manifest, scored = make_training_data(tmp_path, n_images=3)
    records = load_records(manifest, scored)
    first = data_fingerprint(records)
    for field in ("image", "sparse", "label", "weight"):
        path = getattr(records[1], field)
        kept = path.read_bytes()
        path.write_bytes(kept + b"\0")  # any change of the bytes
        assert data_fingerprint(records) != first, field
        path.write_bytes(kept)
    assert data_fingerprint(records) == first


def test_the_released_network_refuses_batches_of_one_image_in_one_process() -> None:
    """Its batch norm after global pooling cannot train on one image: one line naming the key, not a crash in the
    first step; the other networks train on batches of one."""
    from wssam.distributed import World
    from wssam.io import InputError
    from wssam.train.parallel import check_batch_per_process

    one = World(rank=0, local_rank=0, size=1)
    with pytest.raises(InputError, match=r"'train.batch_size' = 1: the released network"):
        check_batch_per_process(1, 10, one, "released")
    with pytest.raises(InputError, match=r"1 training image left .* train.val_fraction"):
        check_batch_per_process(4, 1, one, "released")
    check_batch_per_process(2, 2, one, "released")
    check_batch_per_process(1, 1, one, "wssam", 64)
    with pytest.raises(InputError, match=r"'train.batch_size' = 1: at train.image_size 32 the stride-32 features"):
        check_batch_per_process(1, 10, one, "wssam", 32)  # every network's stride-32 batch norm sees 1 x 1 maps


@pytest.mark.parametrize("name", ["wssam", "baseline"])
def test_a_32_px_network_cannot_train_on_one_image_so_the_check_says_so(name: str) -> None:
    """What the params check refuses really fails: the first step on one 32 px image, but not on two."""
    model = build_model(tiny_config(epochs=1).model.replace(name=name, width=8)).train()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        model(torch.rand(1, 3, 32, 32))
    model(torch.rand(2, 3, 32, 32))  # the params check refuses batch_size 1 here (tests/test_config.py)
