"""Recall and false positives from a tool's records, against the corpus' ground truth.

* pair found: the tool shows the planted key ID *and* the planted secret, in the same file
  (keysentry: one finding whose ``secret_sha256`` is sha256 of the planted secret;
  betterleaks/kingfisher: the secret string in the finding or its component/capture;
  detect-secrets: sha1 of the secret as a second finding in that file);
* ID found: the planted key ID shows anywhere in the output;
* decoys reported: distinct decoys whose lines (path + line) a finding points at, plus
  distinct key-ID-looking strings that are not planted (documentation examples, IDs in the
  copied real code, fragments of decoys reported at another line);
* other findings: everything else the tool reported (other rules, other secrets).
"""

from __future__ import annotations

from collections import Counter

from benchlib.corpus import Truth
from benchlib.tools import Record


def score(records: list[Record], truth: Truth, mode: str) -> dict:
    planted_ids = {p.key_id for p in truth.planted}
    decoy_at: dict[tuple[str, int], int] = {}
    for i, d in enumerate(truth.decoys):
        for line in d.lines:
            decoy_at[(d.path, line)] = i

    id_places: dict[str, set[str | None]] = {}
    secret_places: dict[str, set[str | None]] = {}
    decoys_hit: set[int] = set()
    unplanted: set[str] = set()
    other = 0
    for rec in records:
        hit = {decoy_at[(rec.path, n)] for n in rec.lines if (rec.path, n) in decoy_at} if rec.path else set()
        decoys_hit |= hit
        planted_here = rec.ids & planted_ids
        for kid in planted_here:
            id_places.setdefault(kid, set()).add(rec.path)
        for kid in rec.secret_of:
            secret_places.setdefault(kid, set()).add(rec.path)
        if not hit:
            unplanted |= rec.ids - planted_ids
            unplanted |= {"hash:" + h for h in rec.unknown_aws}
        if not (hit or planted_here or rec.secret_of or rec.ids or rec.unknown_aws):
            other += 1

    def recall(subset) -> dict:
        subset = list(subset)
        ids = sum(1 for p in subset if p.key_id in id_places)
        pairs = sum(
            1 for p in subset if p.path in id_places.get(p.key_id, set()) & secret_places.get(p.key_id, set())
        )
        return {"total": len(subset), "pairs_found": pairs, "ids_found": ids}

    by_format: dict[str, dict] = {}
    for p in truth.planted:
        row = by_format.setdefault(p.fmt, {"total": 0, "pairs_found": 0, "ids_found": 0})
        row["total"] += 1
        row["ids_found"] += p.key_id in id_places
        row["pairs_found"] += p.path in id_places.get(p.key_id, set()) & secret_places.get(p.key_id, set())

    result = {
        "findings": len(records),
        "all": recall(truth.planted),
        "by_format": by_format,
        "decoys_planted": len(truth.decoys),
        "decoys_hit": len(decoys_hit),
        "decoys_hit_by_kind": dict(Counter(truth.decoys[i].kind for i in decoys_hit)),
        "unplanted_key_ids": len(unplanted),
        "decoys_reported": len(decoys_hit) + len(unplanted),
        "other_findings": other,
    }
    if mode == "git":
        result["deleted_from_head"] = recall(p for p in truth.planted if not p.in_head)
    return result
