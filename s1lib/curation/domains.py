"""Domains: the MSC2020 top-level codes, an LLM classifier (OpenAI-compatible endpoint) and an offline one.

The reference asked Claude 3.5 Sonnet for one two-digit Mathematics Subject Classification code per question
(on the last line of its answer). :class:`LLMDomainClassifier` does the same against any OpenAI-compatible
``/chat/completions`` endpoint (:class:`s1lib.openai_client.ApiClient`: HTTP 429, 5xx and network errors are retried
with backoff), asking again when the last line holds no valid code.

:class:`TfidfDomainClassifier` needs no model and no network: TF-IDF vectors (words and LaTeX commands, sublinear
tf) and nearest-centroid over keyword descriptions of every MSC code, optionally sharpened by labelled examples.
``s1 bench domains`` measures it on real labelled questions (MATH500 subjects, OlympiadBench subfields), as
balanced agreement over four areas (number theory, combinatorics & probability, geometry, algebra & analysis: the
mean of per-area recall, so a constant answer scores 25 %):

- descriptions only: MATH500 62.3 %, OlympiadBench 53.9 %;
- with OlympiadBench as labelled examples, on MATH500 (another data set): 78.5 % (number theory 82 %, geometry
  93 %, combinatorics 74 %, algebra 65 %); with MATH500 as examples, on OlympiadBench: 67.9 %.
- For comparison, mean-pooled SmolLM2-135M hidden states with a class-balanced logistic regression reached
  74-76 % and 55-60 % in the same two transfers (best layers), at ~0.35 s per question on this CPU (TF-IDF: ~50,000
  questions/s); so the offline default is TF-IDF.

It separates the big areas well and is weakest on algebra vs analysis; use the LLM classifier when the budget
allows (the reference's choice). ``agreement`` (the predicted code lies in the subject's accepted MSC set) is also
reported, but it is lenient: the constant answer "26" scores 71.8 % on MATH500 (TF-IDF with examples: 80.6 %).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from s1lib.curation.answer_cache import cache_key
from s1lib.openai_client import ApiClient, ApiError

log = logging.getLogger(__name__)

MSC2020: dict[str, str] = {
    "00": "General and overarching topics; collections",
    "01": "History and biography",
    "03": "Mathematical logic and foundations",
    "05": "Combinatorics",
    "06": "Order, lattices, ordered algebraic structures",
    "08": "General algebraic systems",
    "11": "Number theory",
    "12": "Field theory and polynomials",
    "13": "Commutative algebra",
    "14": "Algebraic geometry",
    "15": "Linear and multilinear algebra; matrix theory",
    "16": "Associative rings and algebras",
    "17": "Nonassociative rings and algebras",
    "18": "Category theory; homological algebra",
    "19": "K-theory",
    "20": "Group theory and generalizations",
    "22": "Topological groups, Lie groups",
    "26": "Real functions",
    "28": "Measure and integration",
    "30": "Functions of a complex variable",
    "31": "Potential theory",
    "32": "Several complex variables and analytic spaces",
    "33": "Special functions",
    "34": "Ordinary differential equations",
    "35": "Partial differential equations",
    "37": "Dynamical systems and ergodic theory",
    "39": "Difference and functional equations",
    "40": "Sequences, series, summability",
    "41": "Approximations and expansions",
    "42": "Harmonic analysis on Euclidean spaces",
    "43": "Abstract harmonic analysis",
    "44": "Integral transforms, operational calculus",
    "45": "Integral equations",
    "46": "Functional analysis",
    "47": "Operator theory",
    "49": "Calculus of variations and optimal control; optimization",
    "51": "Geometry",
    "52": "Convex and discrete geometry",
    "53": "Differential geometry",
    "54": "General topology",
    "55": "Algebraic topology",
    "57": "Manifolds and cell complexes",
    "58": "Global analysis, analysis on manifolds",
    "60": "Probability theory and stochastic processes",
    "62": "Statistics",
    "65": "Numerical analysis",
    "68": "Computer science",
    "70": "Mechanics of particles and systems",
    "74": "Mechanics of deformable solids",
    "76": "Fluid mechanics",
    "78": "Optics, electromagnetic theory",
    "80": "Classical thermodynamics, heat transfer",
    "81": "Quantum theory",
    "82": "Statistical mechanics, structure of matter",
    "83": "Relativity and gravitational theory",
    "85": "Astronomy and astrophysics",
    "86": "Geophysics",
    "90": "Operations research, mathematical programming",
    "91": "Game theory, economics, finance, and other social and behavioral sciences",
    "92": "Biology and other natural sciences",
    "93": "Systems theory; control",
    "94": "Information and communication theory, circuits",
    "97": "Mathematics education",
}

# Extra words per code for the offline classifier (what questions in that area tend to say).
KEYWORDS: dict[str, str] = {
    "00": "general problem puzzle",
    "01": "history biography mathematician century",
    "03": "logic proof statement true false set theory axiom formula truth provable",
    "05": "combinatorics count counting ways arrange arrangements permutations combinations choose committee "
    "subsets graph vertices edges coloring colored tournament pigeonhole distinct orderings binomial paths grid "
    "sequences of letters \\binom tiles seating",
    "06": "order lattice partial order poset ordered",
    "08": "algebraic systems operation binary operation",
    "11": "number theory integer integers prime primes divisible divisor divisors remainder modulo mod gcd lcm "
    "factor digits digit base congruent residue perfect square odd even multiple \\pmod \\equiv \\gcd",
    "12": "polynomial polynomials roots root coefficients quadratic cubic degree field equation zeros monic factor "
    "vieta real roots complex roots x^2 x^3",
    "13": "commutative ring ideal module",
    "14": "algebraic curve variety projective",
    "15": "matrix matrices determinant vector vectors linear eigenvalue eigenvalues \\begin{pmatrix} \\det "
    "linear transformation projection",
    "16": "ring rings associative algebra",
    "17": "lie algebra nonassociative",
    "18": "category functor homological",
    "19": "k-theory",
    "20": "group groups subgroup permutation group order element abelian symmetry",
    "22": "lie group topological group",
    "26": "real function functions inequality inequalities maximum minimum value expression positive real numbers "
    "domain range graph increasing decreasing \\le \\ge \\sqrt f(x) solve equation variable simplify evaluate",
    "28": "measure integration lebesgue measurable",
    "30": "complex number complex numbers imaginary z \\bar modulus argument i^2 unit circle",
    "31": "potential harmonic function",
    "32": "several complex variables analytic",
    "33": "special functions trigonometric gamma bessel \\sin \\cos \\tan sine cosine tangent angle degrees",
    "34": "ordinary differential equation dy/dx",
    "35": "partial differential equation",
    "37": "dynamical system iteration orbit ergodic",
    "39": "functional equation f(x+y) difference equation recurrence",
    "40": "sequence series sum infinite converge arithmetic geometric progression terms \\sum",
    "41": "approximation expansion estimate",
    "42": "fourier harmonic analysis",
    "43": "abstract harmonic analysis",
    "44": "laplace transform integral transform",
    "45": "integral equation",
    "46": "functional analysis banach hilbert space",
    "47": "operator operators",
    "49": "optimization calculus of variations minimize maximize optimal",
    "51": "geometry triangle triangles circle circles angle angles side sides length area perimeter polygon square "
    "rectangle radius diameter point points line segment perpendicular parallel inscribed tangent chord "
    "hexagon quadrilateral \\triangle \\angle coordinate plane",
    "52": "convex polytope polyhedron lattice points discrete geometry",
    "53": "differential geometry curvature surface",
    "54": "topology topological space open closed compact",
    "55": "algebraic topology homotopy homology",
    "57": "manifold manifolds cell complex",
    "58": "global analysis",
    "60": "probability random randomly expected value chosen dice die coin flip chance independent stochastic",
    "62": "statistics statistical estimator sample mean median variance data",
    "65": "numerical method algorithm approximate error",
    "68": "computer science algorithm program code complexity string",
    "70": "mechanics particle velocity acceleration force mass motion",
    "74": "elastic solid stress strain",
    "76": "fluid flow viscosity pressure",
    "78": "optics light lens electromagnetic electric magnetic field charge",
    "80": "thermodynamics heat temperature entropy gas",
    "81": "quantum state spin hamiltonian electron wavefunction",
    "82": "statistical mechanics molecule structure matter",
    "83": "relativity gravitational spacetime",
    "85": "astronomy star planet orbit galaxy",
    "86": "geophysics earth",
    "90": "operations research linear programming schedule",
    "91": "game theory economics money price cost profit players strategy",
    "92": "biology chemistry reaction organism cell gene protein",
    "93": "control system",
    "94": "information code coding circuit bits signal",
    "97": "mathematics education arithmetic percent fraction fractions ratio average mean simplify compute how many "
    "total dollars cents",
}

# Accepted MSC codes per labelled subject (MATH500 ``subject``, OlympiadBench ``subfield``), for measuring agreement.
SUBJECT_TO_MSC: dict[str, tuple[str, ...]] = {
    "Number Theory": ("11",),
    "Counting & Probability": ("05", "60"),
    "Combinatorics": ("05", "60"),
    "Geometry": ("51", "52", "53"),
    "Algebra": ("08", "12", "15", "26", "39", "40", "97"),
    "Intermediate Algebra": ("12", "26", "30", "39", "40", "15"),
    "Prealgebra": ("97", "11", "26", "12", "51", "05"),
    "Precalculus": ("15", "26", "30", "33", "51", "42"),
}
PRIMARY_CODE = {
    "Number Theory": "11",
    "Combinatorics": "05",
    "Counting & Probability": "05",
    "Geometry": "51",
    "Algebra": "26",
    "Intermediate Algebra": "12",
    "Prealgebra": "97",
    "Precalculus": "33",
}


def is_code(value: str | None) -> bool:
    return value is not None and value in MSC2020


# ---------------------------------------------------------------- offline classifier

_TOKEN = re.compile(r"\\[a-zA-Z]+|[a-zA-Z]{2,}")


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


@dataclass
class TfidfDomainClassifier:
    """Nearest-centroid over TF-IDF vectors; centroids from MSC descriptions and optional labelled examples."""

    example_weight: float = field(default=1.0, metadata={"help": "weight of labelled examples vs descriptions"})
    vocab: dict[str, int] = field(default_factory=dict)
    idf: np.ndarray | None = None
    centroids: np.ndarray | None = None
    codes: list[str] = field(default_factory=list)

    def fit(self, texts: Sequence[str] = (), labels: Sequence[str] = ()) -> TfidfDomainClassifier:
        if len(texts) != len(labels):
            raise ValueError(f"fit: {len(texts)} texts but {len(labels)} labels")
        bad = [lab for lab in labels if not is_code(lab)]
        if bad:
            raise ValueError(f"fit: labels must be MSC2020 two-digit codes, got {sorted(set(bad))[:5]}")
        descriptions = [f"{name} {KEYWORDS.get(code, '')}" for code, name in MSC2020.items()]
        docs = descriptions + list(texts)
        doc_tokens = [_tokens(d) for d in docs]
        vocab: dict[str, int] = {}
        for toks in doc_tokens:
            for t in toks:
                vocab.setdefault(t, len(vocab))
        df = np.zeros(len(vocab))
        for toks in doc_tokens:
            for t in set(toks):
                df[vocab[t]] += 1
        self.vocab = vocab
        self.idf = np.log((1 + len(docs)) / (1 + df)) + 1.0
        matrix = self._vectors(docs)
        self.codes = list(MSC2020)
        centroids = matrix[: len(MSC2020)].copy()
        if texts:
            index = {c: i for i, c in enumerate(self.codes)}
            for row, lab in zip(matrix[len(MSC2020) :], labels):
                centroids[index[lab]] += self.example_weight * row / max(1, labels.count(lab)) * 3
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        self.centroids = centroids / np.where(norms == 0, 1, norms)
        return self

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.vocab)))
        for i, text in enumerate(texts):
            counts: dict[int, int] = {}
            for t in _tokens(text):
                j = self.vocab.get(t)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            for j, c in counts.items():
                out[i, j] = (1 + math.log(c)) * self.idf[j]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)

    def predict(self, texts: Sequence[str]) -> list[str]:
        if self.centroids is None:
            self.fit()
        out: list[str] = []
        for i in range(0, len(texts), 2048):
            scores = self._vectors(texts[i : i + 2048]) @ self.centroids.T
            out.extend(self.codes[j] for j in scores.argmax(axis=1))
        return out

    __call__ = predict


AREA_OF_CODE = {"11": "number theory", "05": "combinatorics", "60": "combinatorics", "51": "geometry",
                "52": "geometry", "53": "geometry"}  # fmt: skip
"""The four areas of ``area_agreement``; every other code counts as algebra & analysis."""
AREA_OF_SUBJECT = {"Number Theory": "number theory", "Counting & Probability": "combinatorics",
                   "Combinatorics": "combinatorics", "Geometry": "geometry"}  # fmt: skip
"""MATH500 subjects / OlympiadBench subfields by area; other subjects (Algebra, Precalculus, ...) are algebra."""


def area_of_code(code: str | None) -> str:
    return AREA_OF_CODE.get(code or "", "algebra & analysis")


def area_agreement(predicted: Sequence[str], subjects: Sequence[str]) -> dict[str, float]:
    """Recall per area (predicted code's area = the subject's area) and ``balanced``, their mean: a constant
    answer scores 1 / (number of areas present), so the figure cannot be inflated by the commonest area."""
    per: dict[str, list[bool]] = {}
    for pred, subj in zip(predicted, subjects):
        area = AREA_OF_SUBJECT.get(subj, "algebra & analysis")
        per.setdefault(area, []).append(area_of_code(pred) == area)
    result = {a: float(np.mean(v)) for a, v in sorted(per.items())}
    result["balanced"] = float(np.mean([result[a] for a in per])) if per else float("nan")
    return result


def agreement(predicted: Sequence[str], subjects: Sequence[str]) -> dict[str, float]:
    """Share of predictions inside each subject's accepted MSC set, per subject and overall."""
    per: dict[str, list[bool]] = {}
    for pred, subj in zip(predicted, subjects):
        per.setdefault(subj, []).append(pred in SUBJECT_TO_MSC.get(subj, ()))
    result = {s: float(np.mean(v)) for s, v in per.items()}
    result["overall"] = float(np.mean([x for v in per.values() for x in v])) if per else float("nan")
    return result


# ---------------------------------------------------------------- LLM classifier


DOMAIN_PROMPT = """Assign the question below to exactly one top-level domain of the Mathematics Subject \
Classification (MSC 2020). The domains are:

{domains}

Question:
{question}

Reason briefly if needed, then write only the two-digit code of the best domain on the last line."""


def parse_code(reply: str | None) -> str | None:
    """The MSC code on the last non-empty line of a reply (e.g. ``05`` or ``Answer: 05``), else None."""
    if not reply:
        return None
    lines = [line for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return None
    codes = re.findall(r"(?<!\d)(\d{2})(?!\d)", lines[-1])
    return codes[-1] if codes and is_code(codes[-1]) else None


@dataclass
class LLMDomainClassifier:
    """The reference's classifier over an OpenAI-compatible endpoint.

    ``retries`` bounds both kinds of retry of one question: HTTP retries of a failed request (429, 5xx, network;
    ``sleep`` waits between them) and new requests when a reply holds no valid code. A question whose retries are
    spent gets None (counted in ``failures``; the reason is logged).
    """

    base_url: str
    model: str
    retries: int = 2
    api_key: str | None = None
    temperature: float = 0.0
    timeout: float = 120.0
    failures: int = 0
    concurrency: int = 8
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def _classify(self, question: str) -> str | None:
        domains = "\n".join(f"{code} {name}" for code, name in MSC2020.items())
        prompt = DOMAIN_PROMPT.format(domains=domains, question=question)
        client = ApiClient(self.base_url, self.api_key, self.timeout, self.retries, sleep=self.sleep)
        for _ in range(self.retries + 1):
            try:
                reply = client.chat(self.model, prompt, self.temperature, 512)
            except ApiError as exc:  # the client has spent the retries already
                log.warning("LLM domain label failed: %s", exc)
                return None
            code = parse_code(reply)
            if code is not None:
                return code
        return None

    def predict(self, texts: Sequence[str]) -> list[str | None]:
        """Codes in order, ``concurrency`` requests in flight; None where every try failed (counted in failures)."""
        from s1lib.curation.parallel import thread_map

        codes = thread_map(self._classify, texts, self.concurrency)
        self.failures += sum(code is None for code in codes)
        return codes

    __call__ = predict

    @property
    def cache_name(self) -> str:
        """Labels from this classifier are cached under this name (they cost an API call each)."""
        return f"domain:llm:{self.model}"


def label_domains(
    records: list[dict], classifier: Any, cache: Any = None, chunk_size: int = 256, progress: bool = False
) -> dict[str, int]:
    """Set ``domain`` on every record without one; returns ``{"classified", "cached", "failed"}``.

    A classifier with a ``cache_name`` (the LLM one) has its labels stored in ``cache`` (an
    :class:`~s1lib.curation.answer_cache.AnswerCache`, the run's ``attempts.jsonl``) after every chunk, so a crashed
    run resumes without asking again; a failed label (None) is not stored and is asked again next run. Offline
    classifiers are fast and run in one call.
    """
    todo = [r for r in records if not r.get("domain")]
    name = getattr(classifier, "cache_name", None) if cache is not None else None
    stats = {"classified": 0, "cached": 0, "failed": 0}
    pending = todo
    if name is not None:
        pending = []
        for rec in todo:
            hit = cache.get(name, rec["question"])
            if hit is not None:
                rec["domain"] = hit["domain"]
                stats["cached"] += 1
            else:
                pending.append(rec)
    step = chunk_size if name is not None else max(1, len(pending))  # uncached: one call for all
    chunks = [pending[i : i + step] for i in range(0, len(pending), step)]
    if progress and name is not None and chunks:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc=f"domains {name}", unit="chunk")
    for chunk in chunks:
        codes = classifier([r["question"] for r in chunk])
        for rec, code in zip(chunk, codes):
            rec["domain"] = code
        stats["classified"] += len(chunk)
        stats["failed"] += sum(code is None for code in codes)
        if name is not None:
            cache.put_many(
                [
                    {"key": cache_key(name, rec["question"]), "model": name, "domain": code}
                    for rec, code in zip(chunk, codes)
                    if code is not None
                ]
            )
    return stats
