"""models.head.head: shapes across sizes, unit Matryoshka prefixes, a frozen anchor, learning, checkpoints."""

from __future__ import annotations

import pytest
import torch

from models.head.head import AttentionHead, HeadConfig, HeadLoadError, load_head, patch_entropy, save_head
from models.head.losses import matryoshka_info_nce


@pytest.mark.parametrize(("n", "keep", "sizes", "anchor"), [
    (257, 64, (64, 128, 256, 512), True),
    (197, 16, (32, 64), False),
    (10, 4, (8,), True),
])
def test_shapes(n, keep, sizes, anchor):
    head = AttentionHead(HeadConfig(dim=48, keep=keep, heads=4, sizes=sizes, anchor=anchor))
    out = head(torch.randn(3, n, 48))
    assert {s: e.shape for s, e in out.embeddings.items()} == {s: (3, s) for s in sizes}
    m = min(keep, n)
    assert out.pooling.shape == (3, 4, m + int(anchor)) and out.kept.shape == (3, m - 1)
    assert out.received.shape == (3, n)
    torch.testing.assert_close(out.pooling.sum(-1), torch.ones(3, 4))
    assert (head.anchor_share(out) is None) == (not anchor)
    assert patch_entropy(out, anchor).shape == (3, 4)


def test_every_matryoshka_prefix_is_unit_norm():
    head = AttentionHead(HeadConfig(dim=48, keep=8, heads=4, sizes=(8, 16, 32)))
    for size, e in head(torch.randn(5, 20, 48)).embeddings.items():
        assert e.shape[1] == size
        torch.testing.assert_close(e.norm(dim=-1), torch.ones(5))


def test_the_anchor_is_a_buffer_outside_the_optimiser_and_gets_no_gradient():
    head = AttentionHead(HeadConfig(dim=48, keep=8, heads=4, sizes=(16, 32)))
    head.anchor.fill(torch.randn(48))
    before = head.anchor.value.clone()
    assert "anchor.value" in dict(head.named_buffers())
    assert all("anchor" not in name for name, _ in head.named_parameters())
    optimizer = torch.optim.AdamW(head.parameters(), lr=0.1)
    for _ in range(3):
        out_a, out_b = head(torch.randn(4, 12, 48)), head(torch.randn(4, 12, 48))
        optimizer.zero_grad()
        matryoshka_info_nce(out_a.embeddings, out_b.embeddings, 0.1).backward()
        assert head.anchor.value.grad is None and not head.anchor.value.requires_grad
        optimizer.step()
    assert torch.equal(head.anchor.value, before)


def test_a_few_steps_on_a_fixed_tiny_set_lower_the_loss():
    torch.manual_seed(0)
    items = torch.randn(16, 12, 32)  # 16 "photos" of 12 tokens; views add noise
    views = [items + 0.3 * torch.randn_like(items) for _ in range(2)]
    head = AttentionHead(HeadConfig(dim=32, keep=6, heads=4, sizes=(8, 16)))
    optimizer = torch.optim.AdamW(head.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = matryoshka_info_nce(head(views[0]).embeddings, head(views[1]).embeddings, 0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_a_checkpoint_reproduces_embeddings_exactly(tmp_path):
    head = AttentionHead(HeadConfig(dim=32, keep=6, heads=4, sizes=(8, 16), backbone="pack:x"))
    head.anchor.fill(torch.randn(32))
    reloaded, extra = load_head(save_head(head.eval(), tmp_path / "head", {"step": 7}))
    assert reloaded.config == head.config and extra == {"step": 7}
    tokens = torch.randn(3, 20, 32)
    with torch.no_grad():
        a, b = head(tokens), reloaded(tokens)
    for size in head.config.sizes:
        assert torch.equal(a.embeddings[size], b.embeddings[size])
    assert torch.equal(a.pooling, b.pooling) and torch.equal(a.kept, b.kept)


def test_a_damaged_checkpoint_says_what_to_do(tmp_path):
    head = AttentionHead(HeadConfig(dim=32, keep=6, heads=4, sizes=(8, 16)))
    folder = save_head(head, tmp_path / "head")
    (folder / "head.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(HeadLoadError, match="python -m models.head.train"):
        load_head(folder)
