"""The engine's fast path as the benchmarks drive it (cached uint8 batches, fused step, NHWC and bf16 on
CUDA), shared by throughput.py and packing.py."""

from __future__ import annotations

import torch

from l2l.data.batched import CachedBatches
from l2l.data.cache import load_cache
from l2l.engine import autocast, train_step, uses_conv


def cycle(make_iter):
    """Endless batches; a new epoch (a new DataLoader iterator) when one ends, as a real loop pays."""
    epoch = 0
    while True:
        for batch in make_iter(epoch):
            yield batch
        epoch += 1


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class Fast:
    def __init__(self, model, data, size, batch, eval_batch, device, amp, compile_model=False):
        self.device, self.amp = device, amp
        cl = device.type == "cuda" and uses_conv(model)  # as the engine: NHWC on CUDA only
        self.model = model.to(memory_format=torch.channels_last) if cl else model
        if compile_model:
            self.model.compile()  # compiled lazily: the warm-up steps pay it
        fused = {"fused": True} if device.type == "cuda" else {}  # as the engine: fused on CUDA, loop on CPU
        self.opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-3, **fused)
        arr = load_cache(data, "train", size)
        labels = data.labels[data.indices("train")]
        tr = CachedBatches([arr], labels, batch, device, augment=["hflip"], channels_last=cl, train=True)
        ev = CachedBatches([arr], labels, eval_batch, device, channels_last=cl)
        self.train_iter = cycle(lambda e: tr.set_epoch_seed(e))
        self.eval_iter = cycle(lambda e: ev)
        self.eval_batch = eval_batch

    def train(self, steps: int) -> int:
        self.model.train()
        seen, total = 0, torch.zeros((), device=self.device)
        for _ in range(steps):
            images, y = next(self.train_iter)
            if len(y) < 2:  # a 1-image tail batch: BatchNorm cannot train on it
                images, y = next(self.train_iter)
            total += train_step(self.model, images, y, self.opt, amp=self.amp) * len(y)
            seen += len(y)
        float(total)  # one host sync per measurement, as per epoch in the engine
        return seen

    def eval(self, images_wanted: int) -> int:
        self.model.eval()
        seen = 0
        with torch.inference_mode():
            while seen < images_wanted:
                images, y = next(self.eval_iter)
                with autocast(self.device, self.amp):
                    out = self.model(images)
                _ = [torch.sigmoid(v.float()).cpu() for v in out.values()]
                seen += len(y)
        return seen
