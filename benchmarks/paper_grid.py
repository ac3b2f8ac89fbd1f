"""The paper's full grid (Tables 1-10 of Label2Label, ECCV 2022) as run counts, for time projections.

The ``paper`` Snakemake target is built elsewhere; this table is the independent count it should
match. Distinct runs (one configuration = one training run per seed):

LFWA (6,263 train / 6,880 test images, 250×250, 57 epochs, batch 16):
  * Table 5: {FC Head, AQN, Label2Label} × {ResNet-50, ResNet-101, ViT-B}         9 configs
    (Table 8's Label2Label/ResNet-50 is Table 5's run; the D=2, L=1, α=0.1, λ=1,
    attribute-specific Label2Label/ResNet-50 run is the default every ablation shares)
  * Table 1: D ∈ {1, 3, 4} (D=2 shared)                                            3
  * Table 2: L ∈ {2, 3, 4} (L=1 shared)                                            3
  * Table 3: α ∈ {0, 0.15, 0.2, 0.3} (0.1 shared)                                  4
  * Table 4: λ ∈ {0.5, 0.8, 1.2, 1.5} (1 shared)                                   4
  * Table 6: [mask] = zero vector, attribute-agnostic (attribute-specific shared)  2
  * Table 7: MLM-MLP, MLM-TransEncoder, IC-MLM without co-training                 3
                                                                            total 28
PA-100K (80,000 train + 10,000 val merged = 90,000 train / 10,000 test, 256×192, 25 epochs,
  batch 64): Table 9 FC Head / AQN / Label2Label with ResNet-50                    3
Clothing Attributes (1,500 train / 356 test, AlexNet, 22 epochs, batch 32): Table 10's three
  methods; the paper gives no input size, 224×224 (as config/paper_datasets.yaml) 3

Seeds: 3 per configuration (the paper reports mean ± std; the seed count is not stated, 3 is
this project's default). Total: (28 + 3 + 3) × 3 = 102 training runs.

Cost model: every ablation variant of Label2Label costs a Label2Label/ResNet-50 run (the head is
≤ 1 GMAC of 5.3-6.3, Table 5); Table 7's MLM variants cost an AQN run plus a small head, counted
as Label2Label. Evaluation of the test split every epoch (the official code selects the best test
epoch) is included. ResNet-101 and ViT-B are projected from ResNet-50 by Table 5's MAC ratio,
AlexNet from ResNet-50 by torchvision's GFLOPS ratio (0.71 / 4.09); other input sizes by pixel
count: those projections are extrapolations, marked as such in the output.
"""

from __future__ import annotations

from dataclasses import dataclass

SEEDS = 3

# MACs relative to ResNet-50 (Table 5 for R101 / ViT-B with the Label2Label head; torchvision for AlexNet)
RELATIVE_COST = {"resnet50": 1.0, "resnet101": 11.16 / 6.30, "vit_b": 17.23 / 6.30, "alexnet": 0.71 / 4.09}


@dataclass(frozen=True)
class GridBlock:
    dataset: str
    table: str
    method: str  # fc_head | aqn | label2label: the measured throughput it is priced at
    backbone: str
    configs: int  # distinct configurations (runs per seed)
    n_train: int
    n_test: int
    epochs: int
    image_size: tuple[int, int]
    batch_size: int


LFWA = dict(dataset="lfwa", n_train=6263, n_test=6880, epochs=57, image_size=(250, 250), batch_size=16)
PA100K = dict(dataset="pa100k", n_train=90000, n_test=10000, epochs=25, image_size=(256, 192), batch_size=64)
CLOTHING = dict(dataset="clothing", n_train=1500, n_test=356, epochs=22, image_size=(224, 224), batch_size=32)

PAPER_GRID: list[GridBlock] = [
    *(GridBlock(table="5", method=m, backbone=b, configs=1, **LFWA)
      for b in ("resnet50", "resnet101", "vit_b") for m in ("fc_head", "aqn", "label2label")),
    GridBlock(table="1,2,3,4,6,7", method="label2label", backbone="resnet50", configs=3 + 3 + 4 + 4 + 2 + 3, **LFWA),
    *(GridBlock(table="9", method=m, backbone="resnet50", configs=1, **PA100K)
      for m in ("fc_head", "aqn", "label2label")),
    *(GridBlock(table="10", method=m, backbone="alexnet", configs=1, **CLOTHING)
      for m in ("fc_head", "aqn", "label2label")),
]


def total_runs() -> int:
    return sum(b.configs for b in PAPER_GRID) * SEEDS
