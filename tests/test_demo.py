"""`w2s demo` is the README's first command: it must run offline and show what it claims."""

import re

from w2s_plugin.cli import main


def test_demo_runs_offline_and_shows_the_weak_to_strong_effect(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path / "out"), "--seeds", "2", "--n", "400"])
    out = capsys.readouterr().out
    assert rc == 0
    f1 = float(re.search(r"^overlap\s+[0-9.]+\s+[0-9.]+\s+([0-9.]+)$", out, re.M).group(1))
    assert f1 > 0.75  # measured ~0.9 on the paper's mixture
    row = {name: tuple(map(float, re.search(rf"^{name}\s+([0-9.]+)\s+([0-9.]+)$", out, re.M).groups()))
           for name in ("weak model itself", "detected-overlap points", r"random points \(same number\)")}
    weak, overlap, rand = row.values()
    assert abs(weak[1] - 0.5) < 0.06                 # the weak model is at chance on hard-only points
    assert overlap[1] > rand[1] + 0.2                # overlap-trained strong model learns the hard pattern
    assert overlap[0] > weak[0]                      # and beats the weak model overall
    camp = {m.group(1): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"^(ucb|random|oracle)\s+([0-9.]+)\s+([0-9.]+)\s", out, re.M)}
    assert set(camp) == {"ucb", "random", "oracle"}
    assert camp["oracle"][0] >= camp["ucb"][0] > camp["random"][0]   # overlap points collected
    assert camp["ucb"][1] < camp["random"][1]                         # regret against the oracle
    for png in ("demo_detection.png", "demo_campaign.png"):
        data = (tmp_path / "out" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
