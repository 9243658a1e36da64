"""Retrieval benchmark for the Attention Head: find a crop of a bundled photo from another view of it.

    python -m bench.head_retrieval

Items are random crops of assets/photos (photos the shipped head was not trained on); the index holds
each crop as is; each query is a differently augmented view (sub-crop, flip, colour, blur) of one item.
Other crops of the same photo are the hard negatives. Scored: recall@1 and @5 for the head at every
Matryoshka size, the head trained without the anchor, and the backbone's CLS and mean of patches.
Also per pooling head: the anchor's share of attention, and the entropy over patches with and without it.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch

from models.engine.loading import load_model
from models.head.features import backbone_tokens, input_size, load_photos, token_grid
from models.head.head import load_head, patch_entropy
from models.head.search import baseline_embeddings, head_output, recall_at
from models.head.views import augmented_view, item_image, random_items

KS = (1, 5)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.head_retrieval", description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=Path("assets/photos"))
    parser.add_argument("--head", type=Path, default=Path("assets/attention_head"))
    parser.add_argument("--ablation", type=Path, default=Path("assets/attention_head_no_anchor"),
                        help="the same head trained with --no-anchor")
    parser.add_argument("--backbone", default="pack:dinov2-small")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--area", type=float, nargs=2, default=(0.05, 0.2), help="crop size, share of the photo")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the tables to this markdown file")
    return parser.parse_args(argv)


def _recall_row(name: str, size: int, queries: torch.Tensor, index: torch.Tensor, truth: torch.Tensor) -> str:
    recall = recall_at(queries, index, truth, KS)
    return f"| {name} | {size} | " + " | ".join(f"{recall[k]:.3f}" for k in KS) + " |"


def main(argv: list[str] | None = None) -> str:
    args = _arguments(argv)
    loaded = load_model(args.backbone)
    names, photos = load_photos(args.photos)
    items = random_items(photos, args.items, random.Random(args.seed), tuple(args.area))
    size, view_rng = input_size(loaded), random.Random(args.seed + 1000)
    print(f"embedding {len(items)} crops of {len(photos)} photos and one augmented view of each ...", flush=True)
    index_tokens = backbone_tokens(loaded, [item_image(photos, item, size) for item in items])
    query_tokens = backbone_tokens(loaded, [augmented_view(photos, item, view_rng, size) for item in items])
    truth = torch.arange(len(items))
    first_patch = token_grid(loaded, index_tokens)[0]  # after CLS (and registers, if any)

    lines = [f"{len(items)} items: crops covering {args.area[0]:.0%}-{args.area[1]:.0%} of one of {len(photos)} photos "
             f"({', '.join(names)}); one augmented query per item; backbone {args.backbone}.", "",
             "| embedding | dims | recall@1 | recall@5 |", "|---|---|---|---|"]
    for name in baseline_embeddings(index_tokens[:1], first_patch):
        idx, qry = (baseline_embeddings(t, first_patch)[name] for t in (index_tokens, query_tokens))
        lines.append(_recall_row(f"backbone {name}", idx.shape[1], qry, idx, truth))
    heads = {label: folder for label, folder in (("head", args.head), ("head without anchor", args.ablation))
             if (folder / "config.json").exists()}
    outputs = {}
    for label, folder in heads.items():
        head, _ = load_head(folder)
        outputs[label] = (head, head_output(head, index_tokens), head_output(head, query_tokens))
        for dims in head.config.sizes:
            lines.append(_recall_row(f"{label} ({folder.name})", dims, outputs[label][2].embeddings[dims],
                                     outputs[label][1].embeddings[dims], truth))
    if outputs:
        pooling_heads = next(iter(outputs.values()))[0].config.heads
        lines += ["", "Pooling attention on the queries, mean per pooling head (entropy over the reduced tokens, "
                  "in bits; uniform = log2 M):", "",
                  "| | " + " | ".join(f"head {h}" for h in range(pooling_heads)) + " |",
                  "|---|" + "---|" * pooling_heads]
        for label, (head, _, query) in outputs.items():
            anchored = head.anchor is not None
            entropy = patch_entropy(query, anchored).mean(0)
            lines.append(f"| entropy, {label} | " + " | ".join(f"{e:.2f}" for e in entropy.tolist()) + " |")
            if anchored:
                share = head.anchor_share(query).mean(0)
                lines.append(f"| anchor share, {label} | " + " | ".join(f"{s:.3f}" for s in share.tolist()) + " |")
    table = "\n".join(lines) + "\n\nCommand: `python -m bench.head_retrieval" + (
        "" if argv is None else " " + " ".join(argv)) + "`\n"
    print(table)
    if args.out:
        args.out.write_text(table)
    return table


if __name__ == "__main__":
    main()
