"""Text models the backend uses out of the box: a stateless strong representation, a keyword
voter for the cold start, and a small retrainable weak classifier.

The hashing representation is *stateless* on purpose (hashed word counts): it needs no corpus to
fit, gives the same vector for a text in every process and after every restart, and streams. It is
the zero-dependency fallback; the packaged sentence-embedding model (embedding.py, the ``embed``
extra) is the default when installed, and any other plugs in through the ``w2s_embed`` hook
(docs/label_studio.md).
"""

from __future__ import annotations

import re

import numpy as np

from w2s_plugin.errors import DataError, W2SError

_TOKEN = r"(?u)\b\w[\w'-]*\b"


class HashingTextEmbedder:
    """Texts -> dense ``(n, n_features)`` unit vectors of hashed word counts (sublinear tf).

    A small ``n_features`` (512) keeps the overlap scorer's ``d x d`` reference cheap; collisions
    only matter for vocabularies far larger than a labeling project's. Measured on the synthetic
    corpus (``synthetic.py``), unigrams separate overlap from easy-only texts better than
    1-2-grams at this size, so unigrams are the default.
    """

    def __init__(self, n_features: int = 512, ngram_range=(1, 1)):
        self.n_features = n_features
        self.ngram_range = tuple(ngram_range)

    def get_params(self, deep: bool = True) -> dict:
        return {"n_features": self.n_features, "ngram_range": self.ngram_range}

    def transform(self, texts) -> np.ndarray:
        from sklearn.feature_extraction.text import HashingVectorizer

        vec = HashingVectorizer(
            n_features=self.n_features,
            ngram_range=self.ngram_range,
            alternate_sign=False,
            norm=None,
            token_pattern=_TOKEN,
        )
        counts = vec.transform(_as_texts(texts))
        counts.data = 1.0 + np.log(counts.data)  # sublinear tf: a repeated word does not dominate
        E = counts.toarray()
        norms = np.linalg.norm(E, axis=1, keepdims=True)
        return E / np.where(norms > 0, norms, 1.0)


def _as_texts(texts) -> list:
    if isinstance(texts, str):
        raise DataError("expected a list of texts, got one string")
    out = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise DataError(f"text {i} is a {type(t).__name__}, not a string")
        out.append(t)
    return out


class KeywordVoter:
    """Cold-start weak model: each class gets one vote per keyword (word or phrase) found in a text;
    probabilities are the smoothed vote shares, so a text without any keyword is uniform (hard-only).

    This is weak supervision in the sense of the paper's WRENCH experiments (labeling functions
    instead of a trained model): it is what a project has before its first annotation.
    """

    def __init__(self, choices, keywords: dict | None = None, alpha: float = 0.5):
        self.choices = list(choices)
        self.keywords = {
            c: [str(k).lower() for k in (keywords or {}).get(c, []) if str(k).strip()] for c in self.choices
        }
        self.fallback_ = [c for c in self.choices if not self.keywords[c]]
        for c in self.fallback_:  # the label names themselves are the fallback keywords
            self.keywords[c] = [w for w in re.findall(_TOKEN, c.lower()) if len(w) > 2] or [c.lower()]
        self.alpha = float(alpha)
        from sklearn.feature_extraction.text import CountVectorizer

        vocab = sorted({k for ks in self.keywords.values() for k in ks})
        max_n = max(len(re.findall(_TOKEN, k)) for k in vocab)
        self.vectorizer_ = CountVectorizer(
            vocabulary=vocab, ngram_range=(1, max(1, max_n)), lowercase=True, token_pattern=_TOKEN
        )
        M = np.zeros((len(vocab), len(self.choices)))
        index = {k: i for i, k in enumerate(vocab)}
        for j, c in enumerate(self.choices):
            for k in self.keywords[c]:
                M[index[k], j] = 1.0
        self.vote_matrix_ = M

    def predict_proba(self, texts) -> np.ndarray:
        votes = np.asarray(self.vectorizer_.transform(_as_texts(texts)) @ self.vote_matrix_)
        votes = votes + self.alpha
        return votes / votes.sum(axis=1, keepdims=True)


class TextWeakClassifier:
    """The retrainable weak model: logistic regression on hashed unigram counts.

    Deliberately weaker than the representation (no bigrams, strong L2 penalty), as the method
    needs; ``classes`` are the labeling config's choices so probabilities always have one column
    per choice, even for choices nobody has annotated yet.
    """

    def __init__(self, classes, C: float = 1.0, n_features: int = 2**14, random_state: int = 0):
        self.classes = list(classes)
        self.C = C
        self.n_features = n_features
        self.random_state = random_state

    def _vectorizer(self):
        from sklearn.feature_extraction.text import HashingVectorizer

        return HashingVectorizer(
            n_features=self.n_features, alternate_sign=False, token_pattern=_TOKEN, norm="l2", binary=True
        )

    def _model(self):
        from sklearn.linear_model import LogisticRegression

        # balanced class weights and an unpenalised intercept (lbfgs): with a few dozen annotations of a
        # skewed project, liblinear's penalised intercept and unweighted loss served the majority
        # choice for nearly every text
        return LogisticRegression(C=self.C, solver="lbfgs", class_weight="balanced", max_iter=1000)

    def fit(self, texts, labels, unlabeled=None):
        """Fit on annotated ``texts``; with ``unlabeled`` texts (the backend passes its pool), shift the
        class scores so that the labels served on them follow the annotated class frequencies.

        Why: on real reviews with a few dozen annotations most texts hold no word the model has seen,
        their probabilities sit at the prior, and the argmax served the majority choice for nearly
        every text (measured on drug reviews: 0-2 % minority served, 29 % true). The shift (one
        offset per class, found on ``unlabeled``) keeps the ranking inside each class and serves each
        choice about as often as annotators chose it."""
        y = np.asarray([self.classes.index(lab) for lab in labels])
        if np.unique(y).size < 2:
            raise W2SError("the weak classifier needs annotations of at least two different choices")
        self.model_ = self._model()
        self.model_.fit(self._vectorizer().transform(_as_texts(texts)), y)
        self.n_train_ = int(y.size)
        self.bias_ = np.zeros(len(self.classes))
        texts_u = _as_texts(unlabeled) if unlabeled is not None else []
        if len(texts_u) >= 20:
            counts = np.bincount(y, minlength=len(self.classes)).astype(float)
            target = (counts + 1.0) / (counts.sum() + len(self.classes))
            self.bias_ = _match_shares(np.log(self._proba(texts_u)), target)
        return self

    def _proba(self, texts) -> np.ndarray:
        p = self.model_.predict_proba(self._vectorizer().transform(_as_texts(texts)))
        out = np.full((p.shape[0], len(self.classes)), 1e-3)
        out[:, self.model_.classes_] = p
        return out / out.sum(axis=1, keepdims=True)

    def cross_validate(self, texts, labels, n_splits: int = 5) -> dict | None:
        """Stratified k-fold accuracy and balanced accuracy of this model on ``(texts, labels)``
        (``None`` when a choice has fewer than two annotations)."""
        from sklearn.model_selection import StratifiedKFold

        y = np.asarray([self.classes.index(lab) for lab in labels])
        counts = np.bincount(y)
        counts = counts[counts > 0]
        k = int(min(n_splits, counts.min())) if counts.size >= 2 else 0
        if k < 2:
            return None
        X = self._vectorizer().transform(_as_texts(texts))
        pred = np.empty_like(y)
        for train, test in StratifiedKFold(k, shuffle=True, random_state=self.random_state).split(X, y):
            if np.unique(y[train]).size < 2:
                return None
            pred[test] = self._model().fit(X[train], y[train]).predict(X[test])
        recalls = [float(np.mean(pred[y == c] == c)) for c in np.unique(y)]
        return {
            "accuracy": round(float(np.mean(pred == y)), 4),
            "balanced_accuracy": round(float(np.mean(recalls)), 4),
            "folds": k,
            "n": int(y.size),
        }

    def predict_proba(self, texts) -> np.ndarray:
        out = self._proba(texts) * np.exp(getattr(self, "bias_", 0.0))
        return out / out.sum(axis=1, keepdims=True)


def _match_shares(logp: np.ndarray, target: np.ndarray, iters: int = 200) -> np.ndarray:
    """Per-class offsets ``b`` such that ``argmax(logp + b)`` picks each class about ``target`` of the
    time (damped multiplicative updates; deterministic)."""
    b = np.zeros(logp.shape[1])
    step = 1.0
    for _ in range(iters):
        share = np.bincount(np.argmax(logp + b, axis=1), minlength=logp.shape[1]) / len(logp)
        b += step * (np.log(target + 1e-3) - np.log(share + 1e-3))
        step *= 0.97
    return b - b.mean()
