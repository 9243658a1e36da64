"""Train the Attention Head on a folder of photos: InfoNCE between two augmented views of each item.

    python -m models.head.train --images assets/training_photos --out assets/attention_head

Items are random crops of the photos; each has `--views` augmented views whose backbone tokens are
computed once and cached: the backbone stays frozen. The loss is InfoNCE between two views, summed over
the Matryoshka sizes, plus image-to-caption InfoNCE when `--captions` is given (captions embedded by
the MiniLM pack). Seeded; `--resume` continues from OUT/state.pt.

The seed trains the head jointly with the backbone. That is not offered: a head is always read on the
backbone it names (`HeadConfig.backbone`), unchanged, and nothing here could serve fine-tuned blocks
beside it (the README's "Departures from the seed").
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from models.engine.loading import load_model
from models.head.anchor import dataset_mean
from models.head.features import load_photos, view_features
from models.head.head import AttentionHead, HeadConfig, patch_entropy, save_head
from models.head.losses import clamped_temperature, matryoshka_info_nce
from models.head.views import random_items
from models.training import clipped_step, warmup_cosine


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m models.head.train", description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of training photos")
    parser.add_argument("--out", type=Path, default=Path("assets/attention_head"))
    parser.add_argument("--backbone", default="pack:dinov2-small", help="pack, hub id or folder")
    parser.add_argument("--items", type=int, default=800, help="random crops of the photos to learn")
    parser.add_argument("--views", type=int, default=3, help="augmented views cached per item")
    parser.add_argument("--area", type=float, nargs=2, default=(0.08, 0.3), help="crop size, share of the photo")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--keep", type=int, default=64, help="M: tokens the reducer keeps")
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256], help="Matryoshka sizes")
    parser.add_argument("--no-anchor", action="store_true", help="ablation: no UnLearnable Token")
    parser.add_argument("--captions", type=Path, help="JSON {photo file name: caption} for image-text InfoNCE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--stop-after", type=int, help="stop (with a checkpoint) after this step, to resume later")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--device", default="auto")
    return parser.parse_args(argv)


def caption_vectors(captions: dict[str, str], names: list[str]) -> torch.Tensor:
    """Each photo's caption embedded by the MiniLM pack: mean-pooled, unit rows (P, 384)."""
    text = load_model("pack:minilm", device="cpu")
    batch = text.processor([captions.get(name, name) for name in names], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = text.model(**batch).last_hidden_state  # (P, T, 384)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return F.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


def view_pair(cached: torch.Tensor, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Backbone tokens of two different cached views of each item in `batch`: (B, N, C) twice."""
    views = cached.shape[1]
    first = torch.randint(views, (len(batch),), generator=generator)
    second = (first + torch.randint(1, views, (len(batch),), generator=generator)) % views  # another view
    return cached[batch, first].float(), cached[batch, second].float()


def main(argv: list[str] | None = None) -> Path:
    from tqdm import tqdm

    args = _arguments(argv)
    torch.manual_seed(args.seed)
    bar = tqdm(total=1.0, bar_format="{desc}")
    say = lambda fraction, message: bar.set_description_str(message)  # noqa: E731
    loaded = load_model(args.backbone, device=args.device, progress=say)
    for p in loaded.model.parameters():
        p.requires_grad_(False)
    names, photos = load_photos(args.images)
    items = random_items(photos, args.items, random.Random(args.seed), tuple(args.area))
    cached = view_features(loaded, names, photos, items, args.views, args.seed, say)  # (items, views, N, C)
    bar.close()

    config = HeadConfig(loaded.model.config.hidden_size, args.keep, args.heads, tuple(args.sizes),
                        anchor=not args.no_anchor, backbone=args.backbone)
    head = AttentionHead(config).to(loaded.device)
    log_temperature = nn.Parameter(torch.tensor(math.log(0.07), device=loaded.device))
    captions, text_projection = None, nn.Identity()
    if args.captions:
        captions = caption_vectors(json.loads(args.captions.read_text()), names).to(loaded.device)
        text_projection = nn.Linear(captions.shape[1], config.embedding_dim).to(loaded.device)
    parameters = [{"params": [*head.parameters(), *text_projection.parameters(), log_temperature]}]
    optimizer = torch.optim.AdamW(parameters, lr=args.lr, weight_decay=0.05)
    generator = torch.Generator().manual_seed(args.seed)
    state_file, log_file = args.out / "state.pt", args.out / "train_log.jsonl"
    start = 0
    if args.resume and state_file.exists():
        state = torch.load(state_file, weights_only=False)
        head.load_state_dict(state["head"])
        text_projection.load_state_dict(state["text_projection"])
        log_temperature.data.copy_(state["log_temperature"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        start = state["step"]
    else:
        if head.anchor is not None:
            # the anchor's value: the mean backbone token over every cached training view
            head.anchor.fill(dataset_mean(cached[i].float() for i in range(len(items))).to(loaded.device))
        args.out.mkdir(parents=True, exist_ok=True)
        log_file.write_text("")
    schedule = warmup_cosine(optimizer, max(1, args.steps), warmup=100, start=start)
    command = "python -m models.head.train " + " ".join(sys.argv[1:] if argv is None else argv)
    extra = {"command": command.strip(), "training": {k: str(v) if isinstance(v, Path) else v
                                                     for k, v in vars(args).items()}}

    def checkpoint(step: int) -> None:
        save_head(head, args.out, {**extra, "step": step, "temperature": clamped_temperature(log_temperature).item()})
        from safetensors.torch import save_file

        if captions is not None:
            save_file(text_projection.state_dict(), str(args.out / "text_projection.safetensors"))
        torch.save({"head": head.state_dict(), "text_projection": text_projection.state_dict(), "step": step,
                    "log_temperature": log_temperature.data, "optimizer": optimizer.state_dict(),
                    "generator": generator.get_state()}, state_file)

    head.train()
    started, window = time.perf_counter(), []
    with tqdm(total=args.steps, initial=start, unit="step", desc="training the attention head") as progress:
        for step in range(start, args.steps):
            batch = torch.randperm(len(items), generator=generator)[: args.batch_size]
            a, b = view_pair(cached, batch, generator)
            out_a, out_b = head(a.to(loaded.device)), head(b.to(loaded.device))
            temperature = clamped_temperature(log_temperature)
            loss = matryoshka_info_nce(out_a.embeddings, out_b.embeddings, temperature)
            if captions is not None:
                photo_of = torch.tensor([items[int(i)].photo for i in batch], device=loaded.device)
                present, target = photo_of.unique(return_inverse=True)  # each photo's caption once
                texts = text_projection(captions[present])  # (P, D)
                loss = loss + sum(F.cross_entropy(out_a.embeddings[s] @ F.normalize(texts[:, :s], dim=-1).T
                                                  / temperature, target) for s in config.sizes)
            clipped_step(loss, optimizer, schedule)
            window.append(loss.item())
            progress.update(1)
            if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
                with torch.no_grad():
                    share = head.anchor_share(out_a)
                    row = {"step": step + 1, "loss": sum(window) / len(window), "temperature": temperature.item(),
                           "patch_entropy_bits": patch_entropy(out_a, head.anchor is not None).mean().item(),
                           "anchor_share": None if share is None else share.mean().item(),
                           "seconds": time.perf_counter() - started}
                with log_file.open("a") as log:
                    log.write(json.dumps(row) + "\n")
                progress.set_postfix(loss=f"{row['loss']:.3f}", temp=f"{row['temperature']:.3f}")
                window.clear()
            if (step + 1) % (args.log_every * 10) == 0:
                checkpoint(step + 1)
            if step + 1 == args.stop_after:
                break
    end = step + 1 if args.steps > start else start
    checkpoint(end)
    seconds = time.perf_counter() - started
    done = end - start
    print(f"{done} steps in {seconds:.0f} s: {done / seconds:.2f} steps/s; saved to {args.out}")
    return args.out


if __name__ == "__main__":
    main()
