"""Train the dates model from scratch, then measure it: exact-match accuracy and where its cross-attention looks.

    python -m models.dates.train --out assets/dates_model

The test dates (every tenth day) are never trained on. For each cross-attention head, the alignment rate is how
often its strongest weight, for an output digit, lands on the input words that digit comes from.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

from models.dates.model import RESULTS, date_model, date_tokenizer, read_target, source_text, target_text
from models.dates.task import DateExample, held_out_example, random_example
from models.engine.lens_attention import LENS_ATTENTION
from models.engine.recording import recording
from models.training import clipped_step, warmup_cosine


def batch(tokenizer, examples: list[DateExample]) -> dict[str, torch.Tensor]:
    """Sources padded, labels padded with -100 (no loss)."""
    inputs = tokenizer([source_text(e) for e in examples], padding=True, return_tensors="pt")
    labels = tokenizer([target_text(e) for e in examples], padding=True, return_tensors="pt")["input_ids"]
    return {**inputs, "labels": labels.masked_fill(labels == tokenizer.pad_token_id, -100)}


@torch.no_grad()
def accuracy(model, tokenizer, examples: list[DateExample]) -> float:
    """Share of examples whose greedy translation is exactly the ISO date."""
    model.eval()
    inputs = tokenizer([source_text(e) for e in examples], padding=True, return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=12, num_beams=1, do_sample=False)
    return sum(read_target(tokenizer, row) == e.target for row, e in zip(out, examples, strict=True)) / len(examples)


@torch.no_grad()
def alignment(model, tokenizer, examples: list[DateExample]) -> list[list[float]]:
    """Per decoder layer and head, how often the argmax of its cross-attention row for an output digit lies in
    the digit's source span (teacher-forced, one example at a time so no padding enters)."""
    layers = model.config.decoder_layers
    heads = model.config.decoder_attention_heads
    hits, total = torch.zeros(layers, heads), 0
    for example in examples:
        source = tokenizer(source_text(example), return_tensors="pt")
        target = tokenizer(target_text(example), return_tensors="pt")["input_ids"]
        decoder_input = torch.cat([torch.tensor([[model.config.decoder_start_token_id]]), target[:, :-1]], dim=1)
        with recording(model) as rec:
            model(**source, decoder_input_ids=decoder_input)
        cross = [layer.weights for layer in rec.layers if layer.name.endswith("encoder_attn")]  # (H, Tt, Ts)
        for position in range(len(example.target)):
            span = example.aligned(position)
            if span is None:
                continue
            total += 1
            for index, weights in enumerate(cross):
                strongest = weights[:, position].argmax(-1)  # (H,) the source position each head reads most
                hits[index] += ((strongest >= span[0]) & (strongest < span[1])).float()
    return (hits / max(total, 1)).tolist()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m models.dates.train", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("assets/dates_model"))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--test-examples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from tqdm import tqdm

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tokenizer = date_tokenizer()
    model = date_model(tokenizer, args.dim, args.layers, args.heads)
    model.config._attn_implementation = LENS_ATTENTION  # the model's own attention, readable by the recording
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = warmup_cosine(optimizer, args.steps, warmup=max(1, args.steps // 20))
    test = [held_out_example(i) for i in range(args.test_examples)]
    log, started = [], time.perf_counter()
    with tqdm(total=args.steps, desc="training the dates model", unit="step") as bar:
        for step in range(1, args.steps + 1):
            model.train()
            loss = model(**batch(tokenizer, [random_example(rng, held_out=False) for _ in range(args.batch_size)]))
            clipped_step(loss.loss, optimizer, schedule)
            bar.update()
            if step % 250 == 0 or step == args.steps:
                row = {"step": step, "loss": loss.loss.item(), "accuracy": accuracy(model, tokenizer, test[:200]),
                       "seconds": time.perf_counter() - started}
                log.append(row)
                bar.set_postfix(loss=f"{row['loss']:.3f}", accuracy=f"{row['accuracy']:.2f}")
    model.eval()
    results = {"command": "python -m models.dates.train " + " ".join(sys.argv[1:] if argv is None else argv),
               "steps": args.steps, "seconds": time.perf_counter() - started,
               "test_accuracy": accuracy(model, tokenizer, test), "test_examples": len(test),
               "alignment": alignment(model, tokenizer, test), "parameters": sum(p.numel() for p in model.parameters())}
    args.out.mkdir(parents=True, exist_ok=True)
    model.config._attn_implementation = "eager"  # saved as a plain model; Attention Lens sets its own on loading
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    (args.out / "train_log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in log))
    (args.out / RESULTS).write_text(json.dumps(results, indent=1))
    print(json.dumps({k: v for k, v in results.items() if k != "alignment"}, indent=1))
    return results


if __name__ == "__main__":
    main()
