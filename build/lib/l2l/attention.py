"""The paper's Fig. 3: IC-MLM self-attention among attributes for chosen samples, as labelled heatmaps.

Loads a finished run (``model.pt`` + its resolved config), runs the chosen test samples through it
with ``record_attention`` on the chosen IC-MLM decoder layer, and draws the M×M attention of one
head (rows: the attribute token that attends, columns: the tokens attended to), with the sample's
positive attributes (ground truth, and those the model predicts) listed beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2l.errors import UserError
from l2l.io import atomic_write


def _mlm_decoder(model: torch.nn.Module) -> torch.nn.Module:
    head = model.head
    for name in ("mlm", "refiner"):
        sub = getattr(head, name, None)
        if sub is not None and hasattr(sub, "decoder") and hasattr(sub.decoder, "layers") \
                and hasattr(sub.decoder.layers[0], "record_attention"):
            return sub.decoder
    raise UserError(f"method {type(head).__name__} has no IC-MLM; attention maps need a label2label "
                    f"or icmlm_2stage run")


def attention_maps(run_dir: str | Path, samples: Sequence[int], layer: int = 1, head: int = 1,
                   split: str = "test") -> list[dict[str, Any]]:
    """Per sample: the head's M×M attention at ``layer`` (both 1-based, as in the paper) and its labels."""
    from l2l.data import load_prepared
    from l2l.data.loader import AttributeImageDataset

    from l2l.run_folder import load_run

    run = load_run(run_dir)
    model, cfg = run.model, run.cfg
    decoder = _mlm_decoder(model)
    if not 1 <= layer <= len(decoder.layers):
        raise UserError(f"--layer {layer}: the IC-MLM of {run_dir} has layers 1..{len(decoder.layers)}")
    heads = decoder.layers[0].self_attn.num_heads
    if not 1 <= head <= heads:
        raise UserError(f"--head {head}: the IC-MLM has heads 1..{heads}")
    data = load_prepared(cfg.data.path)
    ds = AttributeImageDataset(data, split, cfg.data.image_size)
    bad = [s for s in samples if not 0 <= s < len(ds)]
    if bad:
        raise UserError(f"--samples {bad}: split '{split}' of {cfg.data.path} has samples 0..{len(ds) - 1}")
    images = torch.stack([ds[s][0] for s in samples])
    labels = torch.stack([ds[s][1] for s in samples]).numpy()
    target = decoder.layers[layer - 1]
    target.record_attention = True
    with torch.no_grad():
        probs = torch.sigmoid(model(images)[model.prediction_key]).numpy()
    target.record_attention = False
    weights = target.self_attention[:, head - 1].numpy()  # B×M×M
    out = []
    for i, s in enumerate(samples):
        out.append({"sample": s, "split": split, "image": data.images[int(ds.index[s])], "layer": layer,
                    "head": head, "attention": weights[i], "attributes": list(data.attributes),
                    "positive": [a for a, y in zip(data.attributes, labels[i]) if y == 1],
                    "predicted": [a for a, p in zip(data.attributes, probs[i]) if p > 0.5]})
    return out


def draw(item: dict[str, Any], path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = item["attributes"]
    m = len(names)
    fig = plt.figure(figsize=(4.0 + 0.28 * m, 1.6 + 0.28 * m))
    ax = fig.add_axes([0.28, 0.30, 0.50, 0.60])
    im = ax.imshow(np.asarray(item["attention"]), cmap="viridis", vmin=0.0)
    ax.set_xticks(range(m), names, rotation=90, fontsize=7)
    ax.set_yticks(range(m), names, fontsize=7)
    ax.set_xlabel("attended attribute (key)", fontsize=8)
    ax.set_ylabel("attending attribute (query)", fontsize=8)
    ax.set_title(title or f"IC-MLM self-attention, layer {item['layer']}, head {item['head']}\n"
                          f"{item['split']} sample {item['sample']} ({item['image']})", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    text = "positive: " + (", ".join(item["positive"]) or "none") + \
        "\npredicted: " + (", ".join(item["predicted"]) or "none")
    fig.text(0.01, 0.01, text, fontsize=7, va="bottom", wrap=True)
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)
    return Path(path)


def write_attention(run_dir: str | Path, samples: Sequence[int], out_dir: str | Path, layer: int = 1,
                    head: int = 1, split: str = "test") -> list[Path]:
    """Draw one PNG per sample into ``out_dir``; returns the paths."""
    out_dir = Path(out_dir)
    return [draw(item, out_dir / f"attention_{split}{item['sample']}_layer{layer}_head{head}.png")
            for item in attention_maps(run_dir, samples, layer, head, split)]
