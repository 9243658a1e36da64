"""models.head.search: recall, ranking, the index entries, an index of real photos."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from models.head.head import AttentionHead, HeadConfig
from models.head.search import baseline_embeddings, build_index, index_entries, rank, recall_at


def test_recall_counts_the_true_row_among_the_k_nearest():
    index = F.normalize(torch.eye(4), dim=-1)
    queries = F.normalize(torch.tensor([[1.0, 0.1, 0, 0], [0.9, 1.0, 0, 0], [1.0, 0, 0.8, 0]]), dim=-1)
    truth = torch.tensor([0, 0, 2])  # right, second, second
    assert recall_at(queries, index, truth, (1, 2)) == {1: pytest.approx(1 / 3), 2: pytest.approx(1.0)}
    scores, found = rank(queries, index, 10)
    assert found.shape == (3, 4) and (scores[:, :-1] >= scores[:, 1:]).all()


def test_baselines_are_the_unit_cls_and_patch_mean():
    # one image: CLS (3, 4), a register (9, 9) that must be left out, patches (2, 0) and (0, 2)
    tokens = torch.tensor([[[3.0, 4.0], [9.0, 9.0], [2.0, 0.0], [0.0, 2.0]]])
    got = baseline_embeddings(tokens, first_patch=2)
    assert got["CLS"].tolist() == [[pytest.approx(0.6), pytest.approx(0.8)]]  # (3, 4) / 5
    half = 0.5**0.5  # patch mean (1, 1), unit length
    assert got["mean of patches"].tolist() == [[pytest.approx(half), pytest.approx(half)]]


def test_index_entries_are_each_photo_and_its_crops_at_the_input_size():
    photos = [Image.new("RGB", (90, 60)), Image.new("RGB", (40, 80))]
    labels, images = index_entries(["a.png", "b.png"], photos, crops_per_photo=3, size=32)
    assert labels[:4] == ["a.png", "a.png · crop 1", "a.png · crop 2", "a.png · crop 3"] and len(labels) == 8
    assert {image.size for image in images} == {(32, 32)}


@pytest.mark.packs
def test_an_index_of_real_photos_finds_each_photo_itself_first(dinov2):
    head = AttentionHead(HeadConfig(dim=384, keep=16, heads=6, sizes=(32, 64)))
    images = [Image.effect_noise((224, 224), 30 + 25 * i).convert("RGB") for i in range(4)]
    index = build_index(dinov2, head.eval(), [f"p{i}" for i in range(4)], images)
    assert index.grid == (1, 16, 16) and index.focus(2).shape == (16, 16)
    for size in (32, 64):
        for position in range(4):
            query = type(index.output)({s: e[position : position + 1] for s, e in index.output.embeddings.items()},
                                       index.output.pooling, index.output.kept, index.output.received)
            _, found = index.search(query, size, 2)
            assert int(found[0]) == position
