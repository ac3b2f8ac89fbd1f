#!/usr/bin/env bash
# Regenerate docs/rulegraph.png (the picture of the pipeline in README.md) from the workflow itself.
# Needs Graphviz (`apt-get install graphviz`); run from anywhere: docs/rulegraph.sh
set -euo pipefail
cd "$(dirname "$0")/.."
snakemake --rulegraph dot all | dot -Tpng -Gdpi=110 -o docs/rulegraph.png
echo "wrote docs/rulegraph.png"
