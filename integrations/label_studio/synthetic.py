"""A small synthetic review corpus with known regions, for tests, benchmarks and demos (no downloads).

Every text mixes neutral filler words with, depending on its region, *easy* sentiment keywords
(which the cold-start keyword voter knows) and/or *hard* cue words (which only the strong
representation sees). Easy-only texts carry easy keywords, hard-only texts carry hard cues, overlap
texts carry both: the three regions of docs/method.md, in words.
"""

from __future__ import annotations

import numpy as np

from w2s_plugin.errors import W2SError

CHOICES = ("Positive", "Negative")
EASY = {
    "Positive": ["great", "excellent", "love", "wonderful", "best"],
    "Negative": ["awful", "terrible", "hate", "horrible", "worst"],
}
HARD = {
    "Positive": ["crisp", "snappy", "sturdy", "seamless", "intuitive", "roomy"],
    "Negative": ["laggy", "flimsy", "clunky", "glitchy", "brittle", "cramped"],
}
_NOUNS = (
    "phone screen battery camera case charger cable speaker keyboard mouse laptop tablet watch strap "
    "box manual app menu button light lens sensor port fan hinge lid stand dock remote headset mic "
    "driver update firmware setting colour finish edge corner grip clip cover bag"
).split()
_OTHER = (
    "the a this that it my our with for on in after before when every some its then also just "
    "really quite very still again today yesterday week month delivery shop order seller price"
).split()
FILLER = _NOUNS + _OTHER
REGION_NAMES = ("easy_only", "hard_only", "overlap")

LABEL_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="Positive"/>
    <Choice value="Negative"/>
  </Choices>
</View>"""


def make_reviews(
    n: int, overlap: float = 0.3, hard: float = 0.3, random_state=0, prefix: str = "r"
) -> list[dict]:
    """``n`` records ``{"id", "text", "label", "region"}``: a share ``overlap`` of overlap texts,
    ``hard`` of hard-only texts, the rest easy-only; labels balanced at random."""
    if not (0 <= overlap <= 1 and 0 <= hard <= 1 and overlap + hard <= 1):
        raise W2SError(f"need 0 <= overlap, hard and overlap + hard <= 1; got overlap={overlap}, hard={hard}")
    rng = np.random.default_rng(random_state)
    regions = rng.choice(3, size=n, p=[1 - overlap - hard, hard, overlap])
    out = []
    for i in range(n):
        label = CHOICES[int(rng.integers(2))]
        region = REGION_NAMES[int(regions[i])]
        words = list(rng.choice(FILLER, size=int(rng.integers(3, 7))))
        if region in ("easy_only", "overlap"):
            words += list(rng.choice(EASY[label], size=int(rng.integers(1, 3)), replace=False))
        if region in ("hard_only", "overlap"):
            words += list(rng.choice(HARD[label], size=int(rng.integers(2, 4)), replace=False))
        rng.shuffle(words)
        out.append({"id": f"{prefix}{i}", "text": " ".join(words), "label": label, "region": region})
    return out
