"""The MLflow logged model of a run (MLflow "models from code": this file is logged as the model, nothing
is pickled). It loads the run's ``config.yaml`` + ``model.pt`` with :func:`l2l.run_folder.load_run`
(``weights_only=True``) and predicts with :func:`l2l.predict.predict_images`, the path of ``l2l predict``,
so ``mlflow.pyfunc.load_model("models:/<model id>").predict(pd.DataFrame({"image": paths}))`` returns the
same table as ``l2l predict --run``. Needs the l2l package installed where it is loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd


class L2LRunModel(mlflow.pyfunc.PythonModel):
    """Input: a DataFrame with a column ``image`` (image file paths); output: ``l2l predict``'s columns."""

    def load_context(self, context: Any) -> None:
        from l2l.run_folder import load_run

        self.run = load_run(Path(context.artifacts["run"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from l2l.predict import predict_images

        paths = [Path(p) for p in model_input["image"]]
        return predict_images(self.run, paths, on_error="fail").table.drop(columns="image")


mlflow.models.set_model(L2LRunModel())
