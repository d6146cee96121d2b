"""MLflow models-from-code script of the model bundle (:mod:`s2igan.pyfunc`): MLflow runs this
file when it loads the logged model; it is not imported by the pipeline."""

import mlflow
from mlflow.pyfunc import PythonModel

from s2igan.bundle import load_bundle
from s2igan.pyfunc import ARTIFACT, predict_frame


class BundleModel(PythonModel):
    """``s2igan.load_bundle`` behind MLflow's ``predict`` (the signature: s2igan.pyfunc)."""

    def load_context(self, context):
        self.bundle = load_bundle(context.artifacts[ARTIFACT])

    def predict(self, context, model_input, params=None):
        return predict_frame(self.bundle, model_input, n=int((params or {}).get("n", 1)))


mlflow.models.set_model(BundleModel())
