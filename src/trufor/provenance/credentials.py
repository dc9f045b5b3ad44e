"""C2PA content credentials (a signed manifest embedded in the file), read with ``c2pa-python``.

The validation state is told apart in four: ``none`` (no manifest), ``invalid`` (the manifest does not
verify: the signature, or the hash binding it to these bytes, fails; e.g. the file was changed after
signing), ``valid-untrusted`` (it verifies, but the signer's certificate does not chain to a trust anchor
given), ``trusted`` (it verifies and the signer chains to a trust anchor). Trust anchors are PEM
certificates: the ``trust_anchors`` argument (PEM text or a file), else the file named by
``$TRUFOR_C2PA_TRUST_ANCHORS``; without any, no signer is trusted.

``c2pa-python`` is optional (``pip install 'trufor[provenance]'``); without it the report still says
whether a JPEG carries a manifest (its APP11 JUMBF segment), with ``state: "not-checked"``.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

#: The pip extra that installs c2pa-python.
EXTRA = "trufor[provenance]"
TRUST_ENV = "TRUFOR_C2PA_TRUST_ANCHORS"
STATES = ("none", "invalid", "valid-untrusted", "trusted", "not-checked", "error")

#: IPTC digital source types that say a generative model made (part of) the content.
AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia",
                   "compositeSynthetic")
_UNTRUSTED = "signingCredential.untrusted"

#: Mime types by the format names of :func:`trufor.provenance.report.file_format`.
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff", "WEBP": "image/webp",
        "HEIF": "image/heif", "AVIF": "image/avif", "GIF": "image/gif"}


def c2pa_available() -> bool:
    try:
        import c2pa  # noqa: F401
    except Exception:
        return False
    return True


def missing_message() -> str:
    return f"c2pa-python is not installed: content credentials not verified (pip install '{EXTRA}')"


def trust_anchor_text(trust_anchors: str | os.PathLike | None = None) -> str | None:
    """PEM text of the trust anchors: the argument (PEM text or a file), else ``$TRUFOR_C2PA_TRUST_ANCHORS``."""
    source = trust_anchors if trust_anchors is not None else os.environ.get(TRUST_ENV) or None
    if source is None:
        return None
    text = str(source) if not isinstance(source, os.PathLike) else None
    if text is None or "-----BEGIN" not in text:
        with open(source, encoding="ascii", errors="replace") as f:
            text = f.read()
    return text


def _context(anchors: str | None):
    import c2pa

    if anchors is None:
        return None
    return c2pa.Context.from_dict({"trust": {"trust_anchors": anchors}, "verify": {"verify_trust": True}})


def read_credentials(stream: Any, fmt: str | None, *, trust_anchors: str | None = None,
                     embedded_hint: bool | None = None) -> dict[str, Any]:
    """The content credentials of the file in ``stream`` (binary, seekable) of format ``fmt``.

    ``trust_anchors`` is PEM text (see :func:`trust_anchor_text`); ``embedded_hint`` is what the JPEG
    parser saw (an APP11 JUMBF segment), reported when c2pa-python is missing. Never raises.
    """
    if not c2pa_available():
        return {"present": embedded_hint, "state": "not-checked", "error": missing_message()}
    import c2pa

    mime = MIME.get(fmt or "")
    if mime is None:
        return {"present": None, "state": "not-checked", "error": f"format {fmt or 'unknown'} not checked for C2PA"}
    try:
        stream.seek(0)
        context = _context(trust_anchors)
        reader = c2pa.Reader(mime, stream, context=context) if context else c2pa.Reader(mime, stream)
        try:
            store = json.loads(reader.json())
        finally:
            reader.close()
    except Exception as exc:
        name = type(exc).__name__
        if "ManifestNotFound" in name or "no JUMBF" in str(exc):
            return {"present": False, "state": "none"}
        return {"present": True if embedded_hint else None, "state": "error",
                "error": f"C2PA manifest unreadable ({name}: {str(exc)[:300]})"}
    return summarise_store(store, trusted_anchors_given=trust_anchors is not None)


def summarise_store(store: dict[str, Any], *, trusted_anchors_given: bool = False) -> dict[str, Any]:
    """The report of a manifest store (the JSON of ``c2pa.Reader.json()``)."""
    state_text = str(store.get("validation_state") or "").lower()
    statuses = [s for s in store.get("validation_status") or [] if isinstance(s, dict)]
    codes = [str(s.get("code")) for s in statuses]
    if state_text == "trusted":
        state = "trusted"
    elif state_text == "valid":
        state = "valid-untrusted"
    elif state_text == "invalid":
        state = "invalid"
    else:  # an older reader without validation_state: derive it from the status codes
        failures = [c for c in codes if c != _UNTRUSTED]
        state = "invalid" if failures else ("valid-untrusted" if _UNTRUSTED in codes else "trusted")
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest")) or {}
    sig = active.get("signature_info") or {}
    generator = active.get("claim_generator")
    if not generator:
        gen_info = active.get("claim_generator_info") or []
        generator = ", ".join(" ".join(str(g.get(k)) for k in ("name", "version") if g.get(k))
                              for g in gen_info if isinstance(g, dict)) or None
    actions, ai = [], False
    for assertion in active.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for act in (assertion.get("data") or {}).get("actions") or []:
            source = str(act.get("digitalSourceType") or "")
            generated = any(source.endswith("/" + t) for t in AI_SOURCE_TYPES)
            ai = ai or generated
            actions.append({"action": act.get("action"), "software": _agent(act.get("softwareAgent")),
                            "digital_source_type": source.rsplit("/", 1)[-1] or None, "ai_generated": generated})
    ingredients = [{"title": ing.get("title"), "format": ing.get("format"), "relationship": ing.get("relationship"),
                    "has_manifest": bool(ing.get("active_manifest") or ing.get("manifest_data"))}
                   for ing in active.get("ingredients") or [] if isinstance(ing, dict)]
    return {
        "present": True,
        "state": state,
        "trust_anchors_given": trusted_anchors_given,
        "errors": [f"{s.get('code')}: {s.get('explanation')}" for s in statuses if s.get("code") != _UNTRUSTED],
        "untrusted_signer": _UNTRUSTED in codes,
        "claim_generator": generator,
        "title": active.get("title"),
        "signer": {"issuer": sig.get("issuer"), "common_name": sig.get("common_name"), "time": sig.get("time"),
                   "algorithm": sig.get("alg")} if sig else None,
        "actions": actions,
        "ai_generated": ai,
        "ingredients": ingredients,
        "manifests": len(manifests),
    }


def _agent(agent: Any) -> str | None:
    if isinstance(agent, dict):
        return " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k)) or None
    return None if agent is None else str(agent)


def read_credentials_bytes(data: bytes, fmt: str | None, **kwargs: Any) -> dict[str, Any]:
    """:func:`read_credentials` of bytes in memory."""
    return read_credentials(io.BytesIO(data), fmt, **kwargs)
