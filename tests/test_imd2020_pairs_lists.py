"""scripts/imd2020_pairs.py: the list files it writes from the pairs' rows (derived masks, matched originals,
training-side pairs)."""

from __future__ import annotations

import csv

from conftest import load_script


def _row(fake, original, geometry, fake_part, original_part, fraction):
    row = {"fake": fake, "original": original, "geometry": geometry, "fake_part": fake_part,
           "original_part": original_part}
    if fraction is not None:
        row |= {"derived_mask": f"imd2020_derived_masks/{fake.split('/')[-1]}", "derived_fraction": f"{fraction:.4f}"}
    return row


def test_lists_from_the_pairs_rows(tmp_path, capsys, monkeypatch):
    """Derived list: mask-less fakes with a small derived mask; matched originals: same-geometry pairs with both members
    on the training side and a small derived mask; --from-csv writes both from the pairs file, or names what is
    missing."""
    m = load_script("scripts/imd2020_pairs.py")
    rows = [
        _row("fake/a.jpg", "real/a.jpg", "same", "train", "train", 0.10),  # hand mask: matched only
        _row("fake_unlabelled_mask/b.jpg", "real/b.jpg", "same", "train", "train", 0.20),  # derived and matched
        _row("fake_unlabelled_mask/c.jpg", "real/c.jpg", "warped", "train", "train", 0.20),  # derived, not in place
        _row("fake_unlabelled_mask/d.jpg", "real/d.jpg", "same", "train", "val", 0.05),  # derived; crosses the split
        _row("fake_unlabelled_mask/e.jpg", "real/e.jpg", "same", "train", "train", 0.70),  # a new background: neither
        _row("fake_unlabelled_mask/f.jpg", "real/f.jpg", "same", "train", "train", None),  # no derived mask: neither
    ]
    listed, matched = m.write_lists(tmp_path, rows, {"fake/a.jpg": "mask/a.png"})
    masks = tmp_path.resolve() / "imd2020_derived_masks"
    assert listed == [f"fake_unlabelled_mask/{n}.jpg,{masks / (n + '.jpg')}" for n in "bcd"]
    assert matched == [f"real/a.jpg,{masks / 'a.jpg'}", f"real/b.jpg,{masks / 'b.jpg'}"]
    assert (tmp_path / "imd2020_matched_originals.txt").read_text(encoding="utf-8").splitlines() == matched
    assert (tmp_path / "imd2020_derived_list.txt").read_text(encoding="utf-8").splitlines() == listed
    assert not list(tmp_path.glob("*.tmp"))  # written whole, then moved in place
    subset = tmp_path / "shared" / "data" / "forgeries" / "imd2020_subset"  # a subset of one hand-masked fake
    subset.mkdir(parents=True)
    (subset / "fake_list.txt").write_text("fake/a.jpg,mask/a.png\n", encoding="utf-8")
    monkeypatch.setenv("TRUFOR_SHARED", str(tmp_path / "shared"))
    assert m.main(["imd2020_pairs.py", str(tmp_path / "nowhere"), "--from-csv"]) == 2  # no pairs file
    assert "imd2020_pairs.csv: cannot read" in capsys.readouterr().err
    with open(tmp_path / "imd2020_pairs.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=m.FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    (tmp_path / "imd2020_matched_originals.txt").unlink()
    assert m.main(["imd2020_pairs.py", str(tmp_path), "--from-csv"]) == 0
    assert (tmp_path / "imd2020_matched_originals.txt").read_text(encoding="utf-8").splitlines() == matched
    # the training-side pairs, line for line, whatever their geometry or mask: only d crosses the split
    fakes = (tmp_path / "imd2020_training_pair_fakes.txt").read_text(encoding="utf-8").splitlines()
    originals = (tmp_path / "imd2020_training_pair_originals.txt").read_text(encoding="utf-8").splitlines()
    assert list(zip(fakes, originals)) == [(r["fake"], r["original"]) for r in rows if r["original_part"] == "train"]
    assert len(fakes) == 5 and "fake_unlabelled_mask/d.jpg" not in fakes
