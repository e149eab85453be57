"""Reference methods a fine-tuned coding model has to beat, all behind one estimator interface.

Each estimator follows :class:`nokoding.evaluate.strategies.CodingEstimator`: ``fit(records)``
learns from hand-coded records (dicts with ``text``, ``code_id`` and optionally
``sentiment``), ``predict_proba(texts)`` returns ``(code_probs [N, C], sentiment_probs
[N, S] or None)`` in codebook label order. Everything an estimator learns (vocabulary,
scaler, classifier, prototypes, softmax temperature) is learnt in ``fit`` from the records
it is given — inside the cross-validation fold.

Methods:

* :class:`MajorityEstimator` — the training fold's code and sentiment frequencies.
* :class:`TfidfLogRegEstimator` — TF-IDF of character 2–5-grams (within word boundaries)
  + multinomial logistic regression.
* :class:`EmbeddingLogRegEstimator` — frozen encoder embeddings (mean pooled, E5's
  ``"query: "`` prefix) + standardisation + logistic regression; optionally each code's
  codebook description as one more training example of that code.
* :class:`ZeroShotEstimator` — cosine similarity between a segment's embedding and each
  code's description embedding; the ranking uses no labelled data, only the softmax
  temperature is fitted on the training fold (calibration). No sentiment (``None``).
* :class:`PrototypeEstimator` — nearest prototype: a code's prototype is the mean of the
  centred, L2-normalised embeddings of its training examples (and of its description when
  ``use_descriptions``); cosine similarity, softmax with a temperature fitted on
  leave-one-out similarities of the training fold. Sentiment: prototypes per sentiment label.

Embeddings come from an :class:`Embedder` shared by the whole run (the encoder is frozen, so
embedding every text once is not leakage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from nokoding.codebook import Code, Codebook

__all__ = [
    "Embedder",
    "EmbeddingLogRegEstimator",
    "MajorityEstimator",
    "PrototypeEstimator",
    "TfidfLogRegEstimator",
    "ZeroShotEstimator",
    "description_text",
    "fit_temperature",
]

Record = Mapping[str, Any]


class Embedder(Protocol):
    """Maps texts to fixed vectors; shape ``(len(texts), H)``, float32, rows in input order."""

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


def description_text(code: Code) -> str:
    """The text that stands for a code when its description is used as an example.

    ``"<category> – <subcategory>: <description>"`` (the names alone when the codebook has
    no description).
    """
    head = f"{code.category} – {code.subcategory}"
    return f"{head}: {code.description}" if code.description else head


def fit_temperature(scores: NDArray[np.float64], targets: NDArray[np.int64]) -> float:
    """Softmax temperature ``T`` minimising the negative log-likelihood of ``softmax(scores / T)``.

    Args:
        scores: similarity scores, shape ``(n, C)``; ``-inf`` marks a label unavailable.
        targets: the true label per row, shape ``(n,)``; rows whose target score is
            ``-inf`` are ignored.

    Returns:
        ``T`` in ``[1e-3, 10]`` (1.0 when no row is usable). Source: temperature scaling,
        Guo et al. (2017).
    """
    from scipy.optimize import minimize_scalar

    ok = np.isfinite(scores[np.arange(len(targets)), targets]) if len(targets) else np.zeros(0, bool)
    s, t = scores[ok], targets[ok]
    if s.shape[0] == 0:
        return 1.0

    def nll(log_t: float) -> float:
        z = s / np.exp(log_t)
        z = z - np.max(z, axis=1, keepdims=True)
        lse = np.log(np.sum(np.exp(z), axis=1))
        return float(np.mean(lse - z[np.arange(len(t)), t]))

    res = minimize_scalar(nll, bounds=(np.log(1e-3), np.log(10.0)), method="bounded")
    return float(np.exp(res.x))


class _Base:
    """Shared label handling: codebook order in, ``[N, C]`` / ``[N, S]`` probabilities out."""

    name = "base"
    uses_descriptions = False
    has_sentiment = True

    def __init__(self, codebook: Codebook) -> None:
        self.codebook = codebook

    def _codes(self, records: Sequence[Record]) -> NDArray[np.int64]:
        return np.asarray([self.codebook.index(str(r["code_id"])) for r in records], dtype=np.int64)

    def _sentiments(self, records: Sequence[Record]) -> tuple[list[int], NDArray[np.int64]]:
        labels = list(self.codebook.sentiment_labels)
        rows = [i for i, r in enumerate(records) if r.get("sentiment") in labels]
        return rows, np.asarray([labels.index(records[i]["sentiment"]) for i in rows], dtype=np.int64)

    @property
    def n_codes(self) -> int:
        return self.codebook.n_codes

    @property
    def n_sentiments(self) -> int:
        return len(self.codebook.sentiment_labels)


def _frequencies(y: NDArray[np.int64], n: int) -> NDArray[np.float64]:
    counts = np.bincount(y, minlength=n).astype(np.float64)
    return counts / counts.sum() if counts.sum() else np.full(n, 1.0 / n)


class _LogReg:
    """Multinomial logistic regression that always returns all ``n`` label columns.

    A label absent from the training data gets probability 0; with a single training label
    the model is that constant (scikit-learn refuses to fit one class).
    """

    def __init__(self, n: int, C: float, seed: int = 0) -> None:
        self.n, self.C, self.seed = n, C, seed
        self.model: Any = None
        self.constant: NDArray[np.float64] | None = None

    def fit(self, X: Any, y: NDArray[np.int64]) -> _LogReg:
        from sklearn.linear_model import LogisticRegression

        if len(np.unique(y)) < 2:
            self.constant = _frequencies(y, self.n)
            return self
        self.model = LogisticRegression(C=self.C, max_iter=5000, random_state=self.seed)
        self.model.fit(X, y)
        return self

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        n_rows = X.shape[0]
        if self.constant is not None:
            return np.tile(self.constant, (n_rows, 1))
        out = np.zeros((n_rows, self.n))
        out[:, self.model.classes_] = self.model.predict_proba(X)
        return out


class MajorityEstimator(_Base):
    """Predicts the training fold's label frequencies for every segment (majority class first).

    Top-1 is the most frequent code (ties: codebook order); top-3 the three most frequent.
    """

    name = "majority"

    def fit(self, records: Sequence[Record]) -> MajorityEstimator:
        self.code_prior = _frequencies(self._codes(records), self.n_codes)
        _, ys = self._sentiments(records)
        self.sent_prior = _frequencies(ys, self.n_sentiments)
        return self

    def predict_proba(self, texts: Sequence[str]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        n = len(texts)
        return np.tile(self.code_prior, (n, 1)), np.tile(self.sent_prior, (n, 1))


class TfidfLogRegEstimator(_Base):
    """Character 2–5-gram TF-IDF (``char_wb``, lower-cased, sublinear tf) + logistic regression.

    Hyperparameters are fixed in advance (``C = 10``), not tuned on test folds. The
    vocabulary and IDF weights are learnt in :meth:`fit`.
    """

    name = "tfidf-lr"

    def __init__(self, codebook: Codebook, *, C: float = 10.0, seed: int = 0) -> None:
        super().__init__(codebook)
        self.C, self.seed = C, seed

    def fit(self, records: Sequence[Record]) -> TfidfLogRegEstimator:
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [str(r["text"]) for r in records]
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True)
        X = self.vectorizer.fit_transform(texts)
        self.code_clf = _LogReg(self.n_codes, self.C, self.seed).fit(X, self._codes(records))
        rows, ys = self._sentiments(records)
        self.sent_clf = _LogReg(self.n_sentiments, self.C, self.seed).fit(X[rows], ys) if rows else None
        self.sent_prior = _frequencies(ys, self.n_sentiments)
        return self

    def predict_proba(self, texts: Sequence[str]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        X = self.vectorizer.transform([str(t) for t in texts])
        sent = self.sent_clf.predict_proba(X) if self.sent_clf else np.tile(self.sent_prior, (len(texts), 1))
        return self.code_clf.predict_proba(X), sent


class EmbeddingLogRegEstimator(_Base):
    """Frozen encoder embeddings + standardisation + logistic regression (``C = 1``).

    With ``use_descriptions`` each code's :func:`description_text` is added as one extra
    training example of that code (code head only; descriptions carry no sentiment).
    """

    def __init__(
        self, codebook: Codebook, embedder: Embedder, *, use_descriptions: bool = False, C: float = 1.0, seed: int = 0
    ) -> None:
        super().__init__(codebook)
        self.embedder, self.use_descriptions, self.C, self.seed = embedder, use_descriptions, C, seed
        self.uses_descriptions = use_descriptions
        self.name = "embed-lr+desc" if use_descriptions else "embed-lr"

    def fit(self, records: Sequence[Record]) -> EmbeddingLogRegEstimator:
        from sklearn.preprocessing import StandardScaler

        X = np.asarray(self.embedder.embed([str(r["text"]) for r in records]), dtype=np.float64)
        y = self._codes(records)
        Xc, yc = X, y
        if self.use_descriptions:
            D = np.asarray(self.embedder.embed([description_text(c) for c in self.codebook.codes]), dtype=np.float64)
            Xc, yc = np.vstack([X, D]), np.concatenate([y, np.arange(self.n_codes)])
        self.code_scaler = StandardScaler().fit(Xc)
        self.code_clf = _LogReg(self.n_codes, self.C, self.seed).fit(self.code_scaler.transform(Xc), yc)
        rows, ys = self._sentiments(records)
        self.sent_prior = _frequencies(ys, self.n_sentiments)
        self.sent_clf = None
        if rows:
            self.sent_scaler = StandardScaler().fit(X[rows])
            self.sent_clf = _LogReg(self.n_sentiments, self.C, self.seed).fit(self.sent_scaler.transform(X[rows]), ys)
        return self

    def predict_proba(self, texts: Sequence[str]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        X = np.asarray(self.embedder.embed([str(t) for t in texts]), dtype=np.float64)
        codes = self.code_clf.predict_proba(self.code_scaler.transform(X))
        if self.sent_clf is None:
            return codes, np.tile(self.sent_prior, (len(texts), 1))
        return codes, self.sent_clf.predict_proba(self.sent_scaler.transform(X))


def _normalise(X: NDArray[np.float64]) -> NDArray[np.float64]:
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


class ZeroShotEstimator(_Base):
    """Cosine similarity to each code's description embedding; no sentiment (returns ``None``).

    The ranking of codes uses no labelled data. :meth:`fit` only fits the softmax
    temperature on the training fold so the probabilities are comparable in calibration.
    """

    name = "zero-shot"
    uses_descriptions = True
    has_sentiment = False

    def __init__(self, codebook: Codebook, embedder: Embedder) -> None:
        super().__init__(codebook)
        self.embedder = embedder
        self.D = _normalise(
            np.asarray(embedder.embed([description_text(c) for c in codebook.codes]), dtype=np.float64)
        )

    def _scores(self, texts: Sequence[str]) -> NDArray[np.float64]:
        X = _normalise(np.asarray(self.embedder.embed([str(t) for t in texts]), dtype=np.float64))
        return X @ self.D.T

    def fit(self, records: Sequence[Record]) -> ZeroShotEstimator:
        self.temperature = fit_temperature(self._scores([str(r["text"]) for r in records]), self._codes(records))
        return self

    def predict_proba(self, texts: Sequence[str]) -> tuple[NDArray[np.float64], None]:
        from nokoding.inference.probabilities import softmax

        return softmax(self._scores(texts) / self.temperature), None


class _Prototypes:
    """Prototype classifier over centred, L2-normalised embeddings (fitted per fold)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def fit(
        self, X: NDArray[np.float64], y: NDArray[np.int64], extra: NDArray[np.float64] | None = None
    ) -> _Prototypes:
        self.mean = X.mean(axis=0)
        Z = _normalise(X - self.mean)
        E = _normalise(extra - self.mean) if extra is not None else None
        H = X.shape[1]
        sums = np.zeros((self.n, H))
        counts = np.zeros(self.n)
        np.add.at(sums, y, Z)
        np.add.at(counts, y, 1.0)
        if E is not None:
            sums += E
            counts += 1.0
        self.sums, self.counts = sums, counts
        self.P = _normalise(sums)
        self.available = counts > 0
        # Leave-one-out similarities of the training rows fit the temperature honestly.
        loo_sums = sums[y] - Z
        loo_ok = counts[y] - 1 > 0
        sims = Z @ self.P.T
        sims[:, ~self.available] = -np.inf
        own = np.einsum("ij,ij->i", Z, _normalise(loo_sums))
        sims[np.arange(len(y)), y] = np.where(loo_ok, own, -np.inf)
        self.temperature = fit_temperature(sims, y)
        return self

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        sims = _normalise(X - self.mean) @ self.P.T
        sims[:, ~self.available] = -np.inf
        from nokoding.inference.probabilities import softmax

        return softmax(sims / self.temperature)


class PrototypeEstimator(_Base):
    """Nearest prototype (cosine) for codes — with or without descriptions — and for sentiment."""

    def __init__(self, codebook: Codebook, embedder: Embedder, *, use_descriptions: bool = True) -> None:
        super().__init__(codebook)
        self.embedder, self.use_descriptions = embedder, use_descriptions
        self.uses_descriptions = use_descriptions
        self.name = "prototype+desc" if use_descriptions else "prototype"

    def fit(self, records: Sequence[Record]) -> PrototypeEstimator:
        X = np.asarray(self.embedder.embed([str(r["text"]) for r in records]), dtype=np.float64)
        D = None
        if self.use_descriptions:
            D = np.asarray(self.embedder.embed([description_text(c) for c in self.codebook.codes]), dtype=np.float64)
        self.code_proto = _Prototypes(self.n_codes).fit(X, self._codes(records), D)
        rows, ys = self._sentiments(records)
        self.sent_prior = _frequencies(ys, self.n_sentiments)
        self.sent_proto = _Prototypes(self.n_sentiments).fit(X[rows], ys) if len(set(ys.tolist())) > 1 else None
        return self

    def predict_proba(self, texts: Sequence[str]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        X = np.asarray(self.embedder.embed([str(t) for t in texts]), dtype=np.float64)
        sent = self.sent_proto.predict_proba(X) if self.sent_proto else np.tile(self.sent_prior, (len(texts), 1))
        return self.code_proto.predict_proba(X), sent
