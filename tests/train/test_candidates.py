"""The GPU issue's candidate recipes (configs/candidates/) train on CPU exactly as written, but for size:
their own model, loss, decoding, critic and compile settings, on a tar shard where their sources look."""

from __future__ import annotations

import csv
import tarfile
from pathlib import Path

import pytest

from polychrome.models import load_pretrained
from polychrome.train.config import load_config
from polychrome.train.loop import train
from tests.train.tiny import NUM_IMAGES

CANDIDATES = Path(__file__).parents[2] / "configs" / "candidates"
# Only the size changes: a few steps of a few small crops, on the CPU in fp32; the compiled loss is captured
# by TorchDynamo and run by the eager backend (inductor would need a C++ compiler).
SMALL = [
    "batch_size=4",
    "steps=2",
    "steps_per_epoch=2",
    "data.0.crop_size=64",
    "data.0.prepare.image_size=96",
    "data.0.prepare.split=[0.75, 0.25, 0.0]",
    "device=cpu",
    "precision=fp32",
    "workers=1",
    "compile_backend=eager",
    "val_max_images=4",
    "log_every=1",
]


@pytest.fixture
def shard_where_the_recipes_look(photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The photos as one shard in .data1/ of the folder the runs start in, as on the GPU machine."""
    (tmp_path / ".data1").mkdir()
    with tarfile.open(tmp_path / ".data1" / "shard-000000.tar", "w") as archive:
        for path in sorted(photos.iterdir()):
            archive.add(path, arcname=path.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _train(name: str, run: Path) -> list[dict[str, str]]:
    config = load_config(CANDIDATES / f"{name}.yaml", SMALL)
    result = train(config, run)
    assert result.finished and result.step == 2
    with (result.run_dir / "train.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("start", ["regression", "classification"])
def test_a_candidate_trains_then_its_adversarial_fine_tuning_starts_from_it(
    shard_where_the_recipes_look: Path, start: str
) -> None:
    rows = _train(start, Path("runs") / start)  # where the adversarial recipe's init_from looks
    model = load_pretrained(Path("runs") / start / "model")
    fine_tuned_rows = _train(f"adversarial-{start}", Path("runs") / f"adversarial-{start}")
    fine_tuned = load_pretrained(Path("runs") / f"adversarial-{start}" / "model")

    assert (
        model.architecture
        == fine_tuned.architecture
        == {"regression": "effunet_lite0_reg"}.get(start, "effunet_lite0_cls")
    )
    assert len(rows) == 2 and all(float(r["loss"]) > 0 for r in rows)
    # The critic is there from the first step: the generator starts trained.
    assert all(float(r["gradient_penalty"]) > 0 for r in fine_tuned_rows)
    config = load_config(CANDIDATES / f"adversarial-{start}.yaml")
    weight = config.adversarial.supervised_weight
    for r in fine_tuned_rows:
        assert float(r["loss"]) == pytest.approx(
            weight * float(r["loss_supervised"]) + float(r["loss_adversarial"]), rel=1e-4
        )
    if start == "classification":
        assert model.decode_options == {"method": "annealed_mean", "temperature": 0.38}


@pytest.mark.parametrize("head", ["regression", "classification"])
def test_the_lite2_candidates_train_on_the_lite2_encoder(
    shard_where_the_recipes_look: Path, head: str
) -> None:
    rows = _train(f"{head}-lite2", Path("runs") / f"{head}-lite2")
    model = load_pretrained(Path("runs") / f"{head}-lite2" / "model")
    lite0 = load_config(CANDIDATES / f"{head}.yaml")
    lite2 = load_config(CANDIDATES / f"{head}-lite2.yaml")

    assert model.init_args["encoder_variant"] == "lite2" and len(rows) == 2
    # The same recipe but for the encoder.
    assert lite2.model.name == lite0.model.name.replace("lite0", "lite2")
    assert (lite2.loss, lite2.optim, lite2.data) == (lite0.loss, lite0.optim, lite0.data)


def test_the_candidates_share_one_data_and_speed_section() -> None:
    common = load_config(CANDIDATES / "common.yaml")
    for path in sorted(CANDIDATES.glob("*.yaml")):
        config = load_config(path)
        assert config.data == common.data, path.name
        assert (config.batch_size, config.optim.lr_batch, config.compile) == (256, 48, True), path.name
    assert common.data[0].sources == (".data*/shard-*.tar",)
    assert NUM_IMAGES >= 8  # enough photos for a 75/25 split of batches of 4
