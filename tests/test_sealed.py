"""auth/sealed.py: seal, open, rotate, refuse a wrong key."""

from __future__ import annotations

import pytest

from relaybox.auth.sealed import Sealer, SealError, is_sealed, new_key


def test_seal_open_and_plaintext_passthrough() -> None:
    s = Sealer(new_key())
    sealed = s.seal("route-secret")
    assert is_sealed(sealed) and "route-secret" not in sealed
    assert s.open(sealed) == "route-secret"
    assert s.open("legacy-plaintext") == "legacy-plaintext"
    assert Sealer(None).seal("x") == "x" and not Sealer(None).active


def test_wrong_or_missing_key_is_refused() -> None:
    sealed = Sealer(new_key()).seal("secret")
    with pytest.raises(SealError, match="does not open"):
        Sealer(new_key()).open(sealed)
    with pytest.raises(SealError, match="set RELAYBOX_MASTER_KEY"):
        Sealer(None).open(sealed)
    with pytest.raises(SealError, match="Fernet keys"):
        Sealer("not-a-key")


def test_rotation_new_key_first_old_key_still_opens() -> None:
    old, new = new_key(), new_key()
    sealed_old = Sealer(old).seal("secret")
    both = Sealer(f"{new},{old}")
    assert both.open(sealed_old) == "secret"
    resealed = both.reseal(sealed_old)
    assert Sealer(new).open(resealed) == "secret"
    with pytest.raises(SealError):
        Sealer(old).open(resealed)
