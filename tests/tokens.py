"""API tokens the tests run with (LEADRELAY_API_TOKENS entries) and the headers that carry them."""

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
VIEWER_TOKEN = "test-viewer-token-0123456789abcdef"
API_TOKENS = (f"admin:{ADMIN_TOKEN}", f"viewer:{VIEWER_TOKEN}")


def bearer(token: str = VIEWER_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
