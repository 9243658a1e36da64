"""models.head.train on the real DINOv2 pack: the anchor is the data's mean and stays so; resume is exact."""

from __future__ import annotations

import json
import random

import pytest
import torch
from PIL import Image

from models.head.features import load_photos, view_features
from models.head.head import load_head
from models.head.train import main
from models.head.views import random_items

pytestmark = pytest.mark.packs
TINY = ["--items", "6", "--views", "2", "--batch-size", "4", "--keep", "8", "--heads", "2", "--sizes", "16", "32",
        "--log-every", "2", "--seed", "3"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = random.Random(0)
    for i in range(3):
        Image.effect_noise((96, 80), 40 + 20 * i).convert("RGB").save(folder / f"p{i}.png")
    (folder / "notes.txt").write_text("not a photo")
    Image.new("RGB", (64, 64), tuple(rng.randrange(256) for _ in range(3))).save(folder / "flat.jpg")
    return folder


def test_the_anchor_starts_as_the_mean_of_the_training_tokens_and_never_changes(photos, tmp_path, dinov2):
    out = main(["--images", str(photos), "--out", str(tmp_path / "head"), "--steps", "4", *TINY])
    head, saved = load_head(out)
    names, images = load_photos(photos)
    items = random_items(images, 6, random.Random(3), (0.08, 0.3))
    tokens = view_features(dinov2, names, images, items, views=2, seed=3)  # the cache the run filled
    expected = tokens.double().reshape(-1, tokens.shape[-1]).mean(0).float()  # computed here, independently
    torch.testing.assert_close(head.anchor.value, expected, atol=1e-6, rtol=0)
    assert saved["step"] == 4 and saved["command"].startswith("python -m models.head.train")
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [2, 4] and all(0 < row["anchor_share"] < 1 for row in log)


def test_resuming_gives_the_same_head_as_one_run(photos, tmp_path, dinov2):
    straight = main(["--images", str(photos), "--out", str(tmp_path / "straight"), "--steps", "4", *TINY])
    resumed = tmp_path / "resumed"
    main(["--images", str(photos), "--out", str(resumed), "--steps", "4", *TINY, "--stop-after", "2"])
    main(["--images", str(photos), "--out", str(resumed), "--steps", "4", *TINY, "--resume"])
    a, b = load_head(straight)[0], load_head(resumed)[0]
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        torch.testing.assert_close(x, y, atol=1e-6, rtol=0, msg=name)


def test_without_anchor_the_head_has_none(photos, tmp_path, dinov2):
    head, _ = load_head(main(["--images", str(photos), "--out", str(tmp_path / "h"), "--steps", "2", "--no-anchor",
                              *TINY]))
    assert head.anchor is None and head.config.anchor is False


def test_joint_training_changes_the_unfrozen_backbone_block_and_saves_it(photos, tmp_path, dinov2):
    from safetensors.torch import load_file

    from models.head.train import backbone_blocks

    out = main(["--images", str(photos), "--out", str(tmp_path / "joint"), "--steps", "2", "--unfreeze", "1",
                "--lr", "1e-2", *TINY])
    saved = load_file(str(out / "backbone_blocks.safetensors"))
    original = backbone_blocks(dinov2.model)[-1].state_dict()
    assert set(saved) == {f"0.{name}" for name in original}
    assert any(not torch.equal(saved[f"0.{name}"], value) for name, value in original.items())


def test_captions_add_an_image_text_loss_and_a_saved_text_projection(photos, tmp_path, dinov2):
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps({"p0.png": "grey noise", "p1.png": "more noise", "p2.png": "loud noise",
                                    "flat.jpg": "a flat colour"}))
    out = main(["--images", str(photos), "--out", str(tmp_path / "captioned"), "--steps", "2",
                "--captions", str(captions), *TINY])
    assert (out / "text_projection.safetensors").exists()
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert all(row["loss"] == row["loss"] for row in log)  # finite, not NaN
