"""Tiny stand-ins of the field's datasets (PETA, RAPv1, RAPv2, CelebA, PETAzs, RAPzs) in their released formats.

Like :mod:`l2l.data.standins` (the paper's datasets), each writer lays the files out as the release does
(``PETA.mat`` with its ``peta`` struct and ``images/00001.png``; ``RAP_annotation/RAP_annotation.mat`` with
its ``RAP_annotation`` struct and ``RAP_dataset/``; CelebA's list files, flat or in the Drive's
``Anno/ Eval/ Img/`` folders; Rethinking_of_PAR's ``dataset_zs_run0.pkl``, a pickled ``easydict.EasyDict``
written here without easydict installed) with the real attribute names, tiny seeded images and seeded
labels, and returns what a preparer must make of them, worked out here *by attribute name*, apart from
the preparers' column indices:

``{"attributes": {"eval": [...], "all": [...]}, "images": [path per row, as in labels.csv],
"values": {attribute: raw value per row}, "partitions": [{split: [rows]}, ...], "n_uncertain": int}``

:func:`expected` turns that into the rows of labels.csv for given options. Everything is seeded.
"""

from __future__ import annotations

import pickle
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# ---- attribute names as the releases spell them (Rethinking_of_PAR dataset/pedes_attr/annotation.md) ----
PETA_ATTRIBUTES = [  # PETA.mat peta[0][0][1], file order; the first 35 are evaluated
    "personalLess30", "personalLess45", "personalLess60", "personalLarger60", "carryingBackpack", "carryingOther",
    "lowerBodyCasual", "upperBodyCasual", "lowerBodyFormal", "upperBodyFormal", "accessoryHat", "upperBodyJacket",
    "lowerBodyJeans", "footwearLeatherShoes", "upperBodyLogo", "hairLong", "personalMale", "carryingMessengerBag",
    "accessoryMuffler", "accessoryNothing", "carryingNothing", "upperBodyPlaid", "carryingPlasticBags",
    "footwearSandals", "footwearShoes", "lowerBodyShorts", "upperBodyShortSleeve", "lowerBodyShortSkirt",
    "footwearSneaker", "upperBodyThinStripes", "accessorySunglasses", "lowerBodyTrousers", "upperBodyTshirt",
    "upperBodyOther", "upperBodyVNeck",
    # color (35-78)
    *[f"{part}{c}" for part in ("upperBody", "lowerBody", "hair", "footwear")
      for c in ("Black", "Blue", "Brown", "Green", "Grey", "Orange", "Pink", "Purple", "Red", "White", "Yellow")],
    # extra (79-104)
    "accessoryHeadphone", "personalLess15", "carryingBabyBuggy", "hairBald", "footwearBoots", "lowerBodyCapri",
    "carryingShoppingTro", "carryingUmbrella", "personalFemale", "carryingFolder", "accessoryHairBand",
    "lowerBodyHotPants", "accessoryKerchief", "lowerBodyLongSkirt", "upperBodyLongSleeve", "lowerBodyPlaid",
    "lowerBodyThinStripes", "carryingLuggageCase", "upperBodyNoSleeve", "hairShort", "footwearStocking",
    "upperBodySuit", "carryingSuitcase", "lowerBodySuits", "upperBodySweater", "upperBodyThickStripes",
]
PETA_EVAL = [  # the 35 evaluated, in the official group order, by name
    "accessoryHat", "accessoryMuffler", "accessoryNothing", "accessorySunglasses", "hairLong",
    "upperBodyCasual", "upperBodyFormal", "upperBodyJacket", "upperBodyLogo", "upperBodyPlaid",
    "upperBodyShortSleeve", "upperBodyThinStripes", "upperBodyTshirt", "upperBodyOther", "upperBodyVNeck",
    "lowerBodyCasual", "lowerBodyFormal", "lowerBodyJeans", "lowerBodyShorts", "lowerBodyShortSkirt",
    "lowerBodyTrousers", "footwearLeatherShoes", "footwearSandals", "footwearShoes", "footwearSneaker",
    "carryingBackpack", "carryingOther", "carryingMessengerBag", "carryingNothing", "carryingPlasticBags",
    "personalLess30", "personalLess45", "personalLess60", "personalLarger60", "personalMale",
]
RAPV1_ATTRIBUTES = [  # RAP_annotation.attribute_eng, file order; the first 51 are evaluated
    "Female", "AgeLess16", "Age17-30", "Age31-45", "BodyFat", "BodyNormal", "BodyThin", "Customer", "Clerk",
    "hs-BaldHead", "hs-LongHair", "hs-BlackHair", "hs-Hat", "hs-Glasses", "hs-Muffler", "ub-Shirt", "ub-Sweater",
    "ub-Vest", "ub-TShirt", "ub-Cotton", "ub-Jacket", "ub-SuitUp", "ub-Tight", "ub-ShortSleeve", "lb-LongTrousers",
    "lb-Skirt", "lb-ShortSkirt", "lb-Dress", "lb-Jeans", "lb-TightTrousers", "shoes-Leather", "shoes-Sport",
    "shoes-Boots", "shoes-Cloth", "shoes-Casual", "attach-Backpack", "attach-SingleShoulderBag", "attach-HandBag",
    "attach-Box", "attach-PlasticBag", "attach-PaperBag", "attach-HandTrunk", "attach-Other", "action-Calling",
    "action-Talking", "action-Gathering", "action-Holding", "action-Pusing", "action-Pulling", "action-CarrybyArm",
    "action-CarrybyHand",
    "faceFront", "faceBack", "faceLeft", "faceRight", "occlusionLeft", "occlusionRight", "occlusionUp",
    "occlusionDown", "occlusion-Environment", "occlusion-Attachment", "occlusion-Person", "occlusion-Other",
    *[f"up-{c}" for c in ("Black", "White", "Gray", "Red", "Green", "Blue", "Yellow", "Brown", "Purple", "Pink",
                          "Orange", "Mixture")],
    *[f"low-{c}" for c in ("Black", "White", "Gray", "Red", "Green", "Blue", "Yellow", "Mixture")],
    *[f"shoes-{c}" for c in ("Black", "White", "Gray", "Red", "Green", "Blue", "Yellow", "Brown", "Mixture")],
]
RAPV1_EVAL = [  # the 51 evaluated, official group order, by name
    *RAPV1_ATTRIBUTES[9:43], "AgeLess16", "Age17-30", "Age31-45", "Female", "BodyFat", "BodyNormal", "BodyThin",
    "Customer", "Clerk", *RAPV1_ATTRIBUTES[43:51],
]
_COLORS = ("Black", "White", "Gray", "Red", "Green", "Blue", "Silver", "Yellow", "Brown", "Purple", "Pink", "Orange",
           "Mixture", "Other")
RAPV2_ATTRIBUTES = [  # RAP_annotation.attribute, file order: 111 binary columns, then viewpoint, occlusion, boxes
    "Femal", "AgeLess16", "Age17-30", "Age31-45", "Age46-60", "AgeBiger60", "BodyFatter", "BodyFat", "BodyNormal",
    "BodyThin", "BodyThiner", "Customer", "Employee", "hs-BaldHead", "hs-LongHair", "hs-BlackHair", "hs-Hat",
    "hs-Glasses", "hs-Sunglasses", "hs-Muffler", "hs-Mask", "ub-Shirt", "ub-Sweater", "ub-Vest", "ub-TShirt",
    "ub-Cotton", "ub-Jacket", "ub-SuitUp", "ub-Tight", "ub-ShortSleeve", "ub-Others",
    *[("up-" if c == "Red" else "ub-") + f"Color{c}" for c in _COLORS],
    "lb-LongTrousers", "lb-Shorts", "lb-Skirt", "lb-ShortSkirt", "lb-LongSkirt", "lb-Dress", "lb-Jeans",
    "lb-TightTrousers", *[f"lb-Color{c}" for c in _COLORS],
    "shoes-Leather", "shoes-Sports", "shoes-Boots", "shoes-Cloth", "shoes-Sandals", "shoes-Casual", "shoes-Other",
    *[f"shoes-Color{c}" for c in _COLORS],
    "attachment-Backpack", "attachment-ShoulderBag", "attachment-HandBag", "attachment-WaistBag", "attachment-Box",
    "attachment-PlasticBag", "attachment-PaperBag", "attachment-HandTrunk", "attachment-Baby", "attachment-Other",
    "action-Calling", "action-StrechOutArm", "action-Talking", "action-Gathering", "action-LyingCounter",
    "action-Squatting", "action-Running", "action-Holding", "action-Pushing", "action-Pulling",
    "action-CarryingByArm", "action-CarryingByHand", "action-Other",
    # 111-151: not binary attributes except the occlusion flags. Names past action-Other are this stand-in's own
    # (the preparers read names from the file): viewpoint (1-4), 8 occlusion flags, 4 boxes x (x, y, w, h) x 2
    "viewpoint", "occlusionLeft", "occlusionRight", "occlusionUp", "occlusionDown", "occlusion-Environment",
    "occlusion-Attachment", "occlusion-Person", "occlusion-Other",
    *[f"position-{box}-{k}{i}" for i in (1, 2) for box in ("fb", "hs", "ub", "lb") for k in ("x", "y", "w", "h")],
]
RAPV2_EVAL = [  # the 54 evaluated (selected_attribute), official group order, by name
    "hs-BaldHead", "hs-LongHair", "hs-BlackHair", "hs-Hat", "hs-Glasses", "ub-Shirt", "ub-Sweater", "ub-Vest",
    "ub-TShirt", "ub-Cotton", "ub-Jacket", "ub-SuitUp", "ub-Tight", "ub-ShortSleeve", "ub-Others",
    "lb-LongTrousers", "lb-Skirt", "lb-ShortSkirt", "lb-Dress", "lb-Jeans", "lb-TightTrousers", "shoes-Leather",
    "shoes-Sports", "shoes-Boots", "shoes-Cloth", "shoes-Casual", "shoes-Other", "attachment-Backpack",
    "attachment-ShoulderBag", "attachment-HandBag", "attachment-Box", "attachment-PlasticBag", "attachment-PaperBag",
    "attachment-HandTrunk", "attachment-Other", "AgeLess16", "Age17-30", "Age31-45", "Age46-60", "Femal", "BodyFat",
    "BodyNormal", "BodyThin", "Customer", "Employee", "action-Calling", "action-Talking", "action-Gathering",
    "action-Holding", "action-Pushing", "action-Pulling", "action-CarryingByArm", "action-CarryingByHand",
    "action-Other",
]
# Rethinking_of_PAR's 119 "all" columns of RAPv2 after the 54: the 42 colour columns, then 23 others
RAPV2_COLOR = [n for n in RAPV2_ATTRIBUTES if "-Color" in n]
RAPV2_EXTRA = ["AgeBiger60", "BodyFatter", "BodyThiner", "hs-Sunglasses", "hs-Muffler", "hs-Mask", "lb-Shorts",
               "lb-LongSkirt", "shoes-Sandals", "attachment-WaistBag", "attachment-Baby", "action-StrechOutArm",
               "action-LyingCounter", "action-Squatting", "action-Running", "occlusionLeft", "occlusionRight",
               "occlusionUp", "occlusionDown", "occlusion-Environment", "occlusion-Attachment", "occlusion-Person",
               "occlusion-Other"]
RAPZS_EVAL = [n for n in RAPV2_EVAL if n != "Age46-60"]  # Rethinking_of_PAR drops Age46-60 from RAPzs
CELEBA_ATTRIBUTES = [
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
    "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
    "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
    "Wearing_Necklace", "Wearing_Necktie", "Young",
]


# ---- file helpers ----
def image(path: Path, seed: int, size: tuple[int, int] = (24, 12)) -> None:
    """A seeded noise image (height x width); the format follows the suffix (.png, .jpg)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def cell(strings: list[str]) -> np.ndarray:
    """A MATLAB cell array (N x 1) of strings."""
    out = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[i, 0] = s
    return out


def savemat(path: Path, variables: dict[str, Any]) -> None:
    """scipy's savemat with a fixed header text: savemat stamps the current time there, and a stand-in's bytes
    must follow from its seed alone."""
    import io

    from scipy.io import savemat as _savemat

    buf = io.BytesIO()
    _savemat(buf, variables)
    data = bytearray(buf.getvalue())
    data[:116] = b"MATLAB 5.0 MAT-file, written by l2l.data.field_standins".ljust(116)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))


def _cells(items: list[Any], shape: tuple[int, int]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for i, item in enumerate(items):
        out.flat[i] = item
    return out


def _binary(rng: np.random.Generator, n: int, m: int, uncertain: float = 0.0) -> np.ndarray:
    y = rng.integers(0, 2, (n, m)).astype(float)
    if uncertain:
        y[rng.random((n, m)) < uncertain] = 2
    return y


def _partitions(rng: np.random.Generator, n: int, sizes: dict[str, int], k: int) -> list[dict[str, list[int]]]:
    """``k`` seeded partitions of rows 0..n-1 into splits of the given sizes (rows left over: in none)."""
    out = []
    for _ in range(k):
        perm, parts, start = rng.permutation(n), {}, 0
        for split, size in sizes.items():
            parts[split] = sorted(int(i) for i in perm[start:start + size])
            start += size
        out.append(parts)
    return out


def _info(all_names: list[str], eval_names: list[str], all_order: list[str], images: list[str], raw: np.ndarray,
          partitions: list[dict[str, list[int]]]) -> dict[str, Any]:
    values = {a: raw[:, all_names.index(a)].astype(int).tolist() for a in all_order}
    n_uncertain = int(sum(v.count(2) for a, v in values.items() if a in eval_names))
    return {"attributes": {"eval": list(eval_names), "all": list(all_order)}, "images": images, "values": values,
            "partitions": partitions, "n_uncertain": n_uncertain}


def _eval_then_rest(all_names: list[str], eval_names: list[str], binary: list[str]) -> list[str]:
    return list(eval_names) + [a for a in binary if a not in eval_names]


# ---- the writers ----
def make_peta(root: str | Path, n: int = 24, sizes: tuple[int, int, int] = (12, 4, 8), seed: int = 0) -> dict[str, Any]:
    """PETA.mat (``peta`` struct: data N x 109, attribute, selected_attribute, partition_attribute 5 x 1,
    1-based) + images/00001.png ..."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    labels = _binary(rng, n, len(PETA_ATTRIBUTES))
    ids = np.column_stack([rng.integers(1, 9000, n), rng.integers(1, 11, n), np.arange(1, n + 1), np.ones(n)])
    parts = _partitions(rng, n, dict(zip(("train", "val", "test"), sizes)), 5)
    partition_cells = _cells([{f"{s}_index": (np.array(p[s]) + 1.0)[:, None] for s in ("train", "val", "test")}
                              for p in parts], (5, 1))
    peta = {"data": np.column_stack([ids, labels]), "attribute": cell(PETA_ATTRIBUTES),
            "selected_attribute": np.arange(1.0, 36.0)[:, None], "partition_attribute": partition_cells}
    root.mkdir(parents=True, exist_ok=True)
    savemat(root / "PETA.mat", {"peta": peta})
    for i in range(n):
        image(root / "images" / f"{i + 1:05d}.png", seed * 100000 + i)
    images = [f"source/images/{i + 1:05d}.png" for i in range(n)]
    return _info(PETA_ATTRIBUTES, PETA_EVAL, _eval_then_rest(PETA_ATTRIBUTES, PETA_EVAL, PETA_ATTRIBUTES),
                 images, labels, parts)


def _rap_names(rng: np.random.Generator, n: int, v2: bool) -> list[str]:
    if v2:
        return [f"CAM{rng.integers(1, 26):02d}_2014-02-{15 + i % 10:02d}_20140215161032-20140215162620_tarid{i}_"
                f"frame{rng.integers(1, 3000)}_line1.png" for i in range(n)]
    return [f"CAM{rng.integers(1, 26):02d}-2013-12-23-20131223120147-20131223120735-tarid{i}-"
            f"frame{rng.integers(1, 3000)}-line1.png" for i in range(n)]


def make_rapv1(root: str | Path, n: int = 24, sizes: tuple[int, int] = (16, 8), seed: int = 0,
               uncertain: float = 0.05) -> dict[str, Any]:
    """RAP_annotation/RAP_annotation.mat (``RAP_annotation`` struct: partion 5 x {trainval, test} 1-based,
    label N x 92 with 2 = uncertain, attribute_chinese, attribute_eng, position, imagesname) + RAP_dataset/."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    labels = _binary(rng, n, len(RAPV1_ATTRIBUTES), uncertain)
    labels[0, 0] = labels[1, 12] = 2  # at least two uncertain evaluated cells (Female, hs-Hat)
    names = _rap_names(rng, n, v2=False)
    parts = _partitions(rng, n, {"trainval": sizes[0], "test": sizes[1]}, 5)
    partion = _cells([{"trainval_index": np.array(p["trainval"], float)[None, :] + 1,
                       "test_index": np.array(p["test"], float)[None, :] + 1} for p in parts], (5, 1))
    ann = {"partion": partion, "label": labels, "attribute_chinese": cell(RAPV1_ATTRIBUTES),
           "attribute_eng": cell(RAPV1_ATTRIBUTES), "position": rng.integers(0, 300, (n, 16)).astype(float),
           "imagesname": cell(names)}
    (root / "RAP_annotation").mkdir(parents=True, exist_ok=True)
    savemat(root / "RAP_annotation" / "RAP_annotation.mat", {"RAP_annotation": ann})
    for i, name in enumerate(names):
        image(root / "RAP_dataset" / name, seed * 100000 + i)
    images = [f"source/RAP_dataset/{name}" for name in names]
    return _info(RAPV1_ATTRIBUTES, RAPV1_EVAL, _eval_then_rest(RAPV1_ATTRIBUTES, RAPV1_EVAL, RAPV1_ATTRIBUTES),
                 images, labels, parts)


def _rapv2_data(rng: np.random.Generator, n: int, uncertain: float) -> np.ndarray:
    data = np.zeros((n, len(RAPV2_ATTRIBUTES)))
    data[:, :111] = _binary(rng, n, 111, uncertain)
    data[:, 111] = rng.integers(1, 5, n)  # viewpoint 1-4
    data[:, 112:120] = _binary(rng, n, 8)  # occlusion flags
    data[:, 120:] = rng.integers(0, 300, (n, len(RAPV2_ATTRIBUTES) - 120))  # boxes
    data[0, RAPV2_ATTRIBUTES.index("Femal")] = data[1, RAPV2_ATTRIBUTES.index("hs-Hat")] = 2
    return data


def make_rapv2(root: str | Path, n: int = 24, sizes: tuple[int, int, int] = (12, 4, 8), seed: int = 0,
               uncertain: float = 0.05) -> dict[str, Any]:
    """RAP_annotation/RAP_annotation.mat (``RAP_annotation`` struct: name, data N x 152, attribute,
    selected_attribute 54 1-based, partition_attribute 1 x 5 {train, val, test}_index 1-based) + RAP_dataset/."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    data = _rapv2_data(rng, n, uncertain)
    names = _rap_names(rng, n, v2=True)
    parts = _partitions(rng, n, dict(zip(("train", "val", "test"), sizes)), 5)
    selected = sorted(RAPV2_ATTRIBUTES.index(a) + 1 for a in RAPV2_EVAL)  # the file lists them in file order
    partition = _cells([{f"{s}_index": np.array(p[s], float)[None, :] + 1 for s in ("train", "val", "test")}
                        for p in parts], (1, 5))
    ann = {"name": cell(names), "data": data, "attribute": cell(RAPV2_ATTRIBUTES),
           "selected_attribute": np.array(selected, float)[None, :], "partition_attribute": partition}
    (root / "RAP_annotation").mkdir(parents=True, exist_ok=True)
    savemat(root / "RAP_annotation" / "RAP_annotation.mat", {"RAP_annotation": ann})
    for i, name in enumerate(names):
        image(root / "RAP_dataset" / name, seed * 100000 + i)
    images = [f"source/RAP_dataset/{name}" for name in names]
    return _info(RAPV2_ATTRIBUTES, RAPV2_EVAL, RAPV2_EVAL + RAPV2_COLOR + RAPV2_EXTRA, images, data, parts)


def make_celeba(root: str | Path, layout: str = "flat", sizes: tuple[int, int, int] = (12, 4, 8),
                seed: int = 0) -> dict[str, Any]:
    """list_attr_celeba.txt (count, 40 names, ``file ±1 x 40``) + list_eval_partition.txt (0/1/2) + JPEGs in
    img_align_celeba/, flat or as the Drive nests them (Anno/, Eval/, Img/img_align_celeba/)."""
    if layout not in ("flat", "drive"):
        raise ValueError(f"layout {layout!r}: flat or drive")
    root = Path(root)
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    y = rng.integers(0, 2, (n, 40))
    files = [f"{i + 1:06d}.jpg" for i in range(n)]
    split_of = [s for s, k in zip((0, 1, 2), sizes) for _ in range(k)]  # as released: contiguous train, val, test
    anno, evl, img = (root / "Anno", root / "Eval", root / "Img" / "img_align_celeba") if layout == "drive" \
        else (root, root, root / "img_align_celeba")
    for d in (anno, evl):
        d.mkdir(parents=True, exist_ok=True)
    lines = [str(n), " ".join(CELEBA_ATTRIBUTES) + " "]
    lines += [f"{f} " + " ".join(f"{2 * v - 1:2d}" for v in row) for f, row in zip(files, y)]
    (anno / "list_attr_celeba.txt").write_text("\r\n".join(lines) + "\r\n")
    (evl / "list_eval_partition.txt").write_text("".join(f"{f} {s}\r\n" for f, s in zip(files, split_of)))
    for i, f in enumerate(files):
        image(img / f, seed * 100000 + i, size=(22, 18))
    prefix = "source/Img/img_align_celeba" if layout == "drive" else "source/img_align_celeba"
    parts = [{s: [i for i in range(n) if split_of[i] == k] for k, s in enumerate(("train", "val", "test"))}]
    return _info(CELEBA_ATTRIBUTES, CELEBA_ATTRIBUTES, CELEBA_ATTRIBUTES, [f"{prefix}/{f}" for f in files], y, parts)


# ---- zero-shot: Rethinking_of_PAR's pickled EasyDict ----
def _fake_easydict() -> type:
    """A class that pickles as ``easydict.EasyDict`` (the module exists only while the pickle is written)."""
    class EasyDict(dict):
        def __setattr__(self, name, value):  # easydict keeps attributes and items in step
            super().__setattr__(name, value)
            self[name] = value

    EasyDict.__module__, EasyDict.__qualname__ = "easydict", "EasyDict"
    return EasyDict


def write_zs_pickle(path: Path, fields: dict[str, Any]) -> None:
    """Pickle ``fields`` (nested dicts become EasyDicts) as Rethinking_of_PAR did: protocol 3, numpy 1.x names."""
    module = types.ModuleType("easydict")
    module.EasyDict = EasyDict = _fake_easydict()

    def wrap(value):
        if not isinstance(value, dict):
            return value
        out = EasyDict()
        for k, v in value.items():
            setattr(out, k, wrap(v))
        return out

    saved = sys.modules.get("easydict")
    sys.modules["easydict"] = module
    try:
        data = pickle.dumps(wrap(fields), protocol=3)
    finally:
        if saved is None:
            del sys.modules["easydict"]
        else:
            sys.modules["easydict"] = saved
    # numpy 2 names its pickle helpers numpy._core.multiarray; the released files (numpy 1.x) say numpy.core
    path.write_bytes(data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))


def _zs_fields(description: str, root: str, names: list[str], label: np.ndarray, attr_name: list[str],
               eval_idx: list[int], color: Any, extra: Any, part: dict[str, list[int]]) -> dict[str, Any]:
    train, val, test = (np.array(part[s], dtype=np.int64) for s in ("train", "val", "test"))
    trainval = np.concatenate((train, val))
    return {"description": description, "reorder": "group_order", "root": root, "image_name": names,
            "label": label, "attr_name": attr_name, "label_idx": {"eval": eval_idx, "color": color, "extra": extra},
            "partition": {"train": train, "val": val, "trainval": trainval, "test": test},
            "weight_train": [np.mean(label[train], axis=0).astype(np.float32)],
            "weight_trainval": [np.mean(label[trainval], axis=0).astype(np.float32)]}


def make_petazs(root: str | Path, n: int = 24, sizes: tuple[int, int, int] = (12, 4, 8),
                seed: int = 0) -> dict[str, Any]:
    """PETA's images/ + dataset_zs_run0.pkl (all 105 labels, label_idx.eval = the 35 in group order,
    partition.train/val/test 0-based rows, identity-disjoint in the real file)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 2, (n, len(PETA_ATTRIBUTES))).astype(np.float64)
    part = _partitions(rng, n, dict(zip(("train", "val", "test"), sizes)), 1)[0]
    names = [f"{i + 1:05d}.png" for i in range(n)]
    eval_idx = [PETA_ATTRIBUTES.index(a) for a in PETA_EVAL]
    root.mkdir(parents=True, exist_ok=True)
    write_zs_pickle(root / "dataset_zs_run0.pkl", _zs_fields(
        "peta", "/mnt/data1/jiajian/datasets/attribute/PETA/images", names, raw, list(PETA_ATTRIBUTES), eval_idx,
        list(range(35, 79)), range(79, 105), part))
    for i, name in enumerate(names):
        image(root / "images" / name, seed * 100000 + i)
    return _info(PETA_ATTRIBUTES, PETA_EVAL, _eval_then_rest(PETA_ATTRIBUTES, PETA_EVAL, PETA_ATTRIBUTES),
                 [f"source/images/{x}" for x in names], raw, [part])


def make_rapzs(root: str | Path, n: int = 28, sizes: tuple[int, int, int] = (12, 4, 8), seed: int = 0,
               uncertain: float = 0.05) -> dict[str, Any]:
    """RAPv2's RAP_dataset/ + dataset_zs_run0.pkl (the 119 columns Rethinking_of_PAR keeps, label_idx.eval the 53
    of them without Age46-60, 0-based partitions covering only part of the images, as the real one does)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    data = _rapv2_data(rng, n, uncertain)
    names = _rap_names(rng, n, v2=True)
    part = _partitions(rng, n, dict(zip(("train", "val", "test"), sizes)), 1)[0]
    kept = RAPV2_EVAL + RAPV2_COLOR + RAPV2_EXTRA
    label = data[:, [RAPV2_ATTRIBUTES.index(a) for a in kept]]
    eval_idx = [kept.index(a) for a in RAPZS_EVAL]
    root.mkdir(parents=True, exist_ok=True)
    write_zs_pickle(root / "dataset_zs_run0.pkl", _zs_fields(
        "rap2", "/mnt/data1/jiajian/datasets/attribute/RAP2/RAP_dataset", names, label, kept, eval_idx,
        list(range(54, 96)), list(range(96, 119)), part))
    for i, name in enumerate(names):
        image(root / "RAP_dataset" / name, seed * 100000 + i)
    return _info(RAPV2_ATTRIBUTES, RAPZS_EVAL, _eval_then_rest(kept, RAPZS_EVAL, kept),
                 [f"source/RAP_dataset/{x}" for x in names], data, [part])


def expected(info: dict[str, Any], attributes: str = "eval", partition: int = 0,
             uncertain: str = "unknown") -> dict[str, tuple[str, list[int | None]]]:
    """What labels.csv must hold: {image: (split, [1 / 0 / None per attribute])}; images in no split are absent.
    RAPv1's split is 'trainval' for rows that the preparer divides into train and val."""
    names = info["attributes"][attributes]
    out = {}
    for split, rows in info["partitions"][partition].items():
        for r in rows:
            values = [info["values"][a][r] for a in names]
            out[info["images"][r]] = (split, [(None if uncertain == "unknown" else 0) if v == 2 else v for v in values])
    return out


# The rehearsal's sizes (l2l.data.standins.REHEARSAL_WRITERS): enough per split for a batch and a test pass.
FIELD_WRITERS: dict[str, Callable[[Path, int], dict[str, Any]]] = {
    "peta": lambda root, seed: make_peta(root, seed=seed),
    "rapv1": lambda root, seed: make_rapv1(root, seed=seed),
    "rapv2": lambda root, seed: make_rapv2(root, seed=seed),
    "celeba": lambda root, seed: make_celeba(root, seed=seed),
    "petazs": lambda root, seed: make_petazs(root, seed=seed),
    "rapzs": lambda root, seed: make_rapzs(root, seed=seed),
}
