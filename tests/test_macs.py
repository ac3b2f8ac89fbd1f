"""MACs of Table 5: the paper convention reproduces all nine printed cells within 1%."""

import pytest

from l2l.macs import model_macs

# (backbone, H, W) -> {method: printed GMACs}; ResNets at 250x250 (LFWA), ViT-B at 224x224; M = 40, L = 1, D = 2
TABLE5 = {
    ("resnet50", 250, 250): {"fc_head": 5.30, "aqn": 5.63, "label2label": 6.30},
    ("resnet101", 250, 250): {"fc_head": 10.15, "aqn": 10.48, "label2label": 11.16},
    ("vit_b_16", 224, 224): {"fc_head": 16.85, "aqn": 16.97, "label2label": 17.23},
}


@pytest.mark.parametrize("backbone, h, w", list(TABLE5))
def test_paper_convention_reproduces_table5(backbone, h, w):
    for method, printed in TABLE5[(backbone, h, w)].items():
        r = model_macs(method, backbone, h, w, 40, aqn_layers=1, mlm_layers=2, ffn_dim=2048)
        assert abs(r["paper_gmacs"] - printed) / printed < 0.01, (backbone, method, r["paper_gmacs"], printed)
        assert r["full_gmacs"] >= r["paper_gmacs"]


def test_full_count_adds_the_attention_the_paper_convention_misses():
    d, m, ffn = 64, 7, 32
    fc = model_macs("fc_head", "small_cnn", 32, 32, m, ffn_dim=ffn)
    aqn = model_macs("aqn", "small_cnn", 32, 32, m, aqn_layers=1, ffn_dim=ffn)
    hw = 8 * 8  # small_cnn has stride 4
    ffn_macs = m * 2 * d * ffn
    assert aqn["paper_macs"] - fc["paper_macs"] == ffn_macs - m * d  # FFN only; minus the FC head's linear
    self_attn = 4 * m * d * d + 2 * m * m * d
    cross_attn = 2 * m * d * d + 2 * hw * d * d + 2 * m * hw * d
    classifier = m * d
    assert aqn["full_macs"] - fc["full_macs"] == ffn_macs + self_attn + cross_attn + classifier - m * d


def test_cli_prints_json(capsys):
    import json

    from l2l.cli import main

    assert main(["macs", "--method", "aqn", "--backbone", "small_cnn", "--height", "32", "--width", "32",
                 "--num-attributes", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"paper_gmacs", "full_gmacs"} <= set(out)
    assert main(["macs", "--method", "aqn", "--backbone", "small_cnn", "--height", "32", "--width", "32"]) == 2


def test_cli_counts_the_model_of_a_run_config(tiny_dataset, tmp_path, capsys):
    """`l2l macs --config` builds what `l2l train` builds (no defaults copied): projection_dim and
    image_size of the run config change the count; M comes from the run's dataset."""
    import json

    import yaml

    from l2l.cli import main
    from l2l.macs import model_macs

    run = {"method": "label2label", "backbone": "small_cnn", "data": {"path": str(tiny_dataset), "image_size": [40, 24]},
           "model": {"ffn_dim": 32, "projection_dim": 16, "mlm_layers": 3}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    assert main(["macs", "--config", str(tmp_path / "run.yaml")]) == 0
    out = json.loads(capsys.readouterr().out)
    m = out["num_attributes"]
    expected = model_macs("label2label", "small_cnn", 40, 24, m, ffn_dim=32, projection_dim=16, mlm_layers=3)
    assert (out["height"], out["width"]) == (40, 24) and out["protocol"] == "clean"
    assert out["full_macs"] == expected["full_macs"] and out["parameters"] == expected["parameters"]
    assert out["full_macs"] != model_macs("label2label", "small_cnn", 40, 24, m, ffn_dim=32, mlm_layers=3)["full_macs"]
