"""models.head.train on the real DINOv2 pack: the anchor is the data's mean and stays so; resume is exact."""

from __future__ import annotations

import json
import random

import pytest
from PIL import Image

from models.head.features import load_photos, view_features
from models.head.head import load_head
from models.head.train import main
from models.head.views import random_items
from tests.tolerance import assert_close32

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
    samples = tokens.numel() // tokens.shape[-1]
    assert_close32(head.anchor.value, expected, scale=tokens.abs().max().item(), terms=samples)
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
        assert x.shape == y.shape, name
        assert_close32(x.float(), y.float(), terms=x.shape[-1] if x.dim() else 1)


def test_without_anchor_the_head_has_none(photos, tmp_path, dinov2):
    head, _ = load_head(main(["--images", str(photos), "--out", str(tmp_path / "h"), "--steps", "2", "--no-anchor",
                              *TINY]))
    assert head.anchor is None and head.config.anchor is False


def test_captions_add_an_image_text_loss_and_a_saved_text_projection(photos, tmp_path, dinov2):
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps({"p0.png": "grey noise", "p1.png": "more noise", "p2.png": "loud noise",
                                    "flat.jpg": "a flat colour"}))

    def first_loss(name: str, *extra: str):
        out = main(["--images", str(photos), "--out", str(tmp_path / name), "--steps", "1", *TINY,
                    "--log-every", "1", *extra])
        return json.loads((out / "train_log.jsonl").read_text().splitlines()[0])["loss"], out

    plain, _ = first_loss("plain")
    captioned, out = first_loss("captioned", "--captions", str(captions))
    assert (out / "text_projection.safetensors").exists()
    # step 1 runs the same head on the same views (same seed): the difference is the image-text InfoNCE, one
    # cross-entropy per Matryoshka size over the batch's photos, which is strictly positive
    assert captioned - plain > 0.05
