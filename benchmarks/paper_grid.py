"""The paper's full grid (Tables 1-10 of Label2Label, ECCV 2022) as run counts, for time projections.

The ``paper`` Snakemake target is built elsewhere; this table is the independent count it should
match. Distinct runs (one configuration = one training run per seed):

The recipes are the `official` protocol's (config/paper_datasets.yaml, what `snakemake paper` trains),
read through the same planner and split sizes as the train jobs' resources (l2l/plan/resources.py):
LFWA 6,263 train (train + val) / 6,880 test, 250x250, 60 epochs, batch 16:
  * Table 5: {FC Head, AQN, Label2Label} x {ResNet-50, ResNet-101, ViT-B}         9 configs
    (Table 8's Label2Label/ResNet-50 is Table 5's run; the D=2, L=1, alpha=0.1, lambda=1,
    attribute-specific Label2Label/ResNet-50 run is the default every ablation shares)
  * Table 1: D in {1, 3, 4} (D=2 shared)                                           3
  * Table 2: L in {2, 3, 4} (L=1 shared)                                           3
  * Table 3: alpha in {0, 0.15, 0.2, 0.3} (0.1 shared)                             4
  * Table 4: lambda in {0.5, 0.8, 1.2, 1.5} (1 shared)                             4
  * Table 6: [mask] = zero vector, attribute-agnostic (attribute-specific shared)  2
  * Table 7: MLM-MLP, MLM-TransEncoder, IC-MLM without co-training                 3
                                                                            total 28
PA-100K (80,000 train + 10,000 val merged = 90,000 train / 10,000 test, 256x192, 25 epochs, batch 32
  (the official code's; the paper says 64)): Table 9 FC Head / AQN / Label2Label with ResNet-50     3
Clothing Attributes (1,500 train / 356 test, AlexNet, its recipe's epochs, batch and input size)    3

Seeds: 3 per configuration (the paper reports mean ± std; the seed count is not stated, 3 is
this project's default). Total: (28 + 3 + 3) × 3 = 102 training runs.

Cost model: every ablation variant of Label2Label costs a Label2Label/ResNet-50 run (the head is
≤ 1 GMAC of 5.3-6.3, Table 5); Table 7's MLM variants cost an AQN run plus a small head, counted
as Label2Label. Evaluation of the test split every epoch (the official code selects the best test
epoch) is included. ResNet-101 and ViT-B are projected from ResNet-50 by Table 5's MAC ratio,
AlexNet from ResNet-50 by torchvision's GFLOPS ratio (0.71 / 4.09; the numbers of l2l.plan.resources); other input sizes by pixel
count: those projections are extrapolations, marked as such in the output.
"""

from __future__ import annotations

from dataclasses import dataclass

from l2l.plan import Run
from l2l.plan.experiment import load_experiment
from l2l.plan.resources import RELATIVE_MACS, split_sizes
from l2l.plan.suites import planners

SEEDS = 3

# MACs relative to ResNet-50: the figures of l2l.plan.resources (Table 5 for R101 / ViT-B, torchvision for AlexNet)
RELATIVE_COST = {"resnet50": 1.0, "resnet101": RELATIVE_MACS["resnet101"], "vit_b": RELATIVE_MACS["vit_b_16"],
                 "alexnet": RELATIVE_MACS["alexnet"]}
BACKBONE = {"vit_b": "vit_b_16"}  # this grid's name -> the workflow's


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


def official_recipe(dataset: str, backbone: str = "resnet50") -> dict:
    """n_train, n_test, epochs, image_size and batch_size of a dataset's `official` run config."""
    config = load_experiment()
    run = planners(config)[0].resolved(Run(dataset, BACKBONE.get(backbone, backbone), "label2label", "base",
                                           "official", 0, "paper"))
    sizes = split_sizes(config["datasets"][dataset])
    return {"dataset": dataset, "n_train": sum(sizes.get(s, 0) for s in run["data"]["train_splits"]),
            "n_test": sizes[run["data"]["test_split"]], "epochs": run["train"]["epochs"],
            "image_size": tuple(run["data"]["image_size"]), "batch_size": run["train"]["batch_size"]}


LFWA, PA100K, CLOTHING = official_recipe("lfwa"), official_recipe("pa100k"), official_recipe("clothing", "alexnet")

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
