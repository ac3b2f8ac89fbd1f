# Pretrained weights for offline GPU nodes (docs/weights.md): fetched once, on the submitting machine,
# into <results_dir>/weights/ with a sha256 manifest line per file; train jobs load only from there.


localrules:
    fetch_weights,


rule fetch_weights:
    input:
        mirror=weights_mirror_input,
    output:
        weights=f"{WEIGHTS_DIR}/{{library}}/{{weights_file}}",
        sha256=f"{WEIGHTS_DIR}/{{library}}/{{weights_file}}.sha256",
    wildcard_constraints:
        library="torchvision|timm",
        weights_file=r"[A-Za-z0-9_.-]+\.(pth|safetensors)",
    params:
        cache=lambda w, output: os.path.dirname(os.path.dirname(output.weights)),  # the cache folder
        relpath=lambda w: f"{w.library}/{w.weights_file}",
        mirror=lambda w: ["--mirror", config["weights_mirror"]] if config.get("weights_mirror") else [],
    log:
        f"{WEIGHTS_DIR}/logs/{{library}}/{{weights_file}}.log",
    conda:
        CONDA_ENV
    shell:
        "l2l weights fetch --file {params.relpath:q} --cache {params.cache:q} {params.mirror:q} > {log:q} 2>&1"
