"""``l2l attributes``: the per-attribute table of one planned table (every suite), beside its table.md.

A method's mean error or mA hides which attributes it wins on; the field's papers print per-attribute
figures for exactly that. Per shown cell (a method, or a parameter value) and attribute: the test accuracy
(``per_attribute_accuracy`` of metrics.json) and, where the table's headline metric is mA (the pedestrian
sets, PA-100K), the per-attribute mA ((TPR + TNR) / 2, ``per_attribute_mA``), mean ± sample std over the
seeds. Attributes are grouped as the prepared dataset's ``meta.yaml`` groups them (Clothing), else by the
groups the field's attribute names carry (:func:`name_groups`: PETA's and RAP's name prefixes, PA-100K's
order); the face sets' 40 attributes have no published grouping and stay ungrouped. Torch-free.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from l2l.errors import UserError
from l2l.io import atomic_write, file_set, read_yaml, write_text
from l2l.report.render import fmt, html_page, markdown_table, method_label

UNGROUPED = "—"
# PETA's attribute names start with their group (accessoryHat, upperBodyBlack, personalLess30, ...)
_PETA_PREFIXES = ("personal", "accessory", "carrying", "footwear", "hair", "lowerBody", "upperBody")
# RAP (v1, v2, zs) names their body-part groups with a prefix (hs-, ub-, lb-, shoes-, attach-, action-, ...);
# the unprefixed ones (Female, AgeLess16, BodyFat, Customer, ...) describe the person
_RAP_PREFIXES = {"hs": "head", "ub": "upper body", "up": "upper body", "lb": "lower body", "low": "lower body",
                 "shoes": "shoes", "attach": "attachments", "attachment": "attachments", "action": "action",
                 "occlusion": "occlusion"}
# PA-100K's 26 attributes in the order of annotation.mat, grouped as HydraPlus-Net (ICCV 2017) lists them
PA100K_GROUPS = {
    "gender": ["Female"], "age": ["AgeOver60", "Age18-60", "AgeLess18"], "viewpoint": ["Front", "Side", "Back"],
    "accessories": ["Hat", "Glasses"], "bags": ["HandBag", "ShoulderBag", "Backpack", "HoldObjectsInFront"],
    "upper body": ["ShortSleeve", "LongSleeve", "UpperStride", "UpperLogo", "UpperPlaid", "UpperSplice"],
    "lower body": ["LowerStripe", "LowerPattern", "LongCoat", "Trousers", "Shorts", "Skirt&Dress"],
    "shoes": ["boots"],
}


def name_groups(attributes: Sequence[str]) -> dict[str, str]:
    """Attribute -> group from the names the field's datasets use; {} when the names carry no groups."""
    if set(attributes) <= {a for members in PA100K_GROUPS.values() for a in members}:
        return {a: g for g, members in PA100K_GROUPS.items() for a in members if a in attributes}
    peta = {a: next((p for p in _PETA_PREFIXES if re.match(rf"{p}[A-Z0-9]", a)), None) for a in attributes}
    if sum(v is not None for v in peta.values()) >= len(attributes) / 2:
        return {a: g or "other" for a, g in peta.items()}
    rap = {a: _RAP_PREFIXES.get(a.split("-", 1)[0]) for a in attributes}
    if sum(v is not None for v in rap.values()) >= len(attributes) / 2:
        return {a: g or "person" for a, g in rap.items()}
    return {}


def attribute_groups(attributes: Sequence[str], meta_groups: Mapping[str, Sequence[str]] | None) -> dict[str, str]:
    """Attribute -> group: the dataset's own groups (meta.yaml) when it has them, else :func:`name_groups`."""
    if meta_groups:
        out = {a: g for g, members in meta_groups.items() for a in members}
        return {a: out.get(a, UNGROUPED) for a in attributes}
    found = name_groups(attributes)
    return {a: found.get(a, UNGROUPED) for a in attributes}


def _per_attribute(run: str) -> dict[str, dict[str, float]]:
    path = Path(run) / "metrics.json"
    try:
        result = json.loads(path.read_text())
        test = result["test"]
        # metrics.json is written with sorted keys: the dataset's own order (meta.yaml) is its `attributes` list
        order = [a for a in result.get("attributes") or [] if a in test["per_attribute_accuracy"]]
        order += [a for a in test["per_attribute_accuracy"] if a not in order]
        return {"accuracy": {a: test["per_attribute_accuracy"][a] for a in order},
                "mA": dict(test.get("per_attribute_mA") or {})}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}: no test.per_attribute_accuracy ({type(e).__name__}: {e}); re-run the run "
                        f"(delete its metrics.json) or restore the file") from e


def _label(plan: Mapping[str, Any], cell: Mapping[str, Any]) -> str:
    if plan.get("param") and cell.get("value") is not None:
        return f"{plan['param'].get('label') or plan['param']['key']} = {cell['value']}"
    return method_label(cell["method"])


def per_attribute_rows(plan: Mapping[str, Any], meta_groups: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Long table: one row per (shown cell, attribute, metric) with mean, sample std and n over seeds."""
    shown = [c for c in plan["cells"] if c["show"]]
    metrics = ["accuracy", "mA"] if plan["metrics"] and plan["metrics"][0] == "mA" else ["accuracy"]
    rows: list[dict[str, Any]] = []
    for cell in shown:
        runs = [_per_attribute(r) for r in cell["runs"]]
        attributes = list(runs[0]["accuracy"])
        groups = attribute_groups(attributes, meta_groups)
        for metric in metrics:
            for a in attributes:
                values = pd.Series([r[metric].get(a, math.nan) for r in runs], dtype=float).dropna()
                if values.empty:
                    if metric == "mA":
                        raise UserError(f"{cell['runs'][0]}/metrics.json: no test.per_attribute_mA (written by l2l "
                                        f"since issue 25); re-run the run (delete its metrics.json)")
                    continue
                rows.append({"table": plan["table"], "label": _label(plan, cell), "method": cell["method"],
                             "backbone": cell["backbone"], "variant": cell["variant"], "group": groups[a],
                             "attribute": a, "metric": metric, "mean": float(values.mean()),
                             "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan, "n": len(values)})
    return pd.DataFrame(rows)


def wide(rows: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and rows for markdown / HTML: attribute rows under their group, one column per (cell, metric),
    and a group-mean row after each group (the mean of its attributes' means)."""
    rows = rows.assign(column=rows["label"] + " " + rows["metric"].map({"accuracy": "acc", "mA": "mA"}))
    if rows["backbone"].nunique() > 1:
        rows = rows.assign(column=rows["backbone"] + " " + rows["column"])
    columns = list(dict.fromkeys(rows["column"]))
    groups = list(dict.fromkeys(rows["group"]))
    head, out = ["group", "attribute", *columns], []
    for g in groups:
        part = rows[rows["group"] == g]
        for a in dict.fromkeys(part["attribute"]):
            by = part[part["attribute"] == a].set_index("column")
            out.append([g, a] + [fmt(by.loc[c, "mean"], by.loc[c, "std"]) if c in by.index else "—" for c in columns])
        if len(groups) > 1:
            means = part.groupby("column")["mean"].mean()
            out.append([g, "*mean of the group*"] + [fmt(means.get(c, math.nan)) for c in columns])
    return head, out


def describe(plan: Mapping[str, Any], metrics: Sequence[str]) -> str:
    what = "accuracy and mA ((TPR + TNR) / 2)" if "mA" in metrics else "accuracy"
    return (f"Suite `{plan['suite']}`, protocol `{plan['protocol']}`, dataset `{plan['dataset']}`, seeds {plan['seeds']}: "
            f"test {what} of each attribute in %, mean ± sample std over seeds.")


def build_attribute_table(plan: Mapping[str, Any], meta_file: str | Path | None, out_dir: str | Path) -> pd.DataFrame:
    """Write attributes.md, attributes.html and attributes.csv (long) of one planned table into ``out_dir``."""
    meta = (read_yaml(meta_file) or {}) if meta_file and Path(meta_file).is_file() else {}
    rows = per_attribute_rows(plan, meta.get("groups"))
    metrics = list(dict.fromkeys(rows["metric"])) if len(rows) else []
    head, body = wide(rows) if len(rows) else (["attribute"], [])
    title = f"Per attribute: {plan['title']}"
    with file_set(out_dir) as stage:
        atomic_write(stage / "attributes.csv", lambda p: rows.to_csv(p, index=False))
        write_text(stage / "attributes.md", "\n".join([f"# {title}", "", describe(plan, metrics), "",
                                                        markdown_table(head, body)]) + "\n")
        write_text(stage / "attributes.html", html_page(title, describe(plan, metrics).replace("`", ""),
                                                        pd.DataFrame(body, columns=head)))
    return rows


def add_parser(sub) -> None:
    """``l2l attributes``: the rule ``attribute_table`` calls it per (suite, table)."""
    import argparse

    p = sub.add_parser("attributes", help="per-attribute accuracy (and mA) of one planned table, mean ± std over seeds",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=(
                           "examples:\n  l2l attributes --plan-json \"$(cat plan.json)\" --meta results/datasets/peta/meta.yaml "
                           "--out-dir results/field/tables/field_peta\n"
                           "  snakemake --cores 8 field   # the rule `attribute_table` calls it per table"))
    p.add_argument("--plan-json", required=True, help="the planned table (cells and run folders; Snakemake passes it)")
    p.add_argument("--meta", help="the prepared dataset's meta.yaml (its attribute groups, if any)")
    p.add_argument("--out-dir", required=True, help="folder for attributes.{md,html,csv} (the table's folder)")
    p.set_defaults(func=_cmd)


def _cmd(args) -> None:
    rows = build_attribute_table(json.loads(args.plan_json), args.meta, args.out_dir)
    print(f"{rows['attribute'].nunique() if len(rows) else 0} attribute(s) → {args.out_dir}/attributes.md")
