"""The backend's Prove client: an OAuth access token, /v3/verify and /v3/verify-status, /v3/unify and
/v3/unify-status."""

from __future__ import annotations

from typing import Any

import httpx


class ProveClient:
    def __init__(self, base_url: str, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30.0)
        self._access_token: str | None = None

    async def verify(self, fields: dict[str, Any]) -> httpx.Response:
        return await self._call("/v3/verify", fields)

    async def verify_status(self, correlation_id: str) -> httpx.Response:
        return await self._call("/v3/verify-status", {"correlationId": correlation_id})

    async def unify(self, fields: dict[str, Any]) -> httpx.Response:
        return await self._call("/v3/unify", fields)

    async def unify_status(self, correlation_id: str) -> httpx.Response:
        return await self._call("/v3/unify-status", {"correlationId": correlation_id})

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(self, path: str, body: dict[str, Any]) -> httpx.Response:
        if self._access_token is None:
            self._access_token = await self._new_access_token()
        reply = await self._post(path, body)
        if reply.status_code == 401:  # access tokens last an hour: get a new one, try once more
            self._access_token = await self._new_access_token()
            reply = await self._post(path, body)
        return reply

    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(path, json=body, headers={"Authorization": f"Bearer {self._access_token}"})

    async def _new_access_token(self) -> str:
        reply = await self.http.post("/token", data={
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        })
        reply.raise_for_status()
        return reply.json()["access_token"]
