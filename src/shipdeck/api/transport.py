"""The one HTTP transport every adapter uses: keep-alive, timeouts, retries, typed errors, budgets.

* Each call is bounded by ``timeout`` per network step and by ``deadline`` overall (all attempts, waits and
  a slow drip of bytes included).
* Safe calls and keyed mutations retry on connection errors, 429, 502, 503 and 504 with exponential
  backoff and jitter, honouring ``Retry-After``; the same ``Idempotency-Key`` goes out on every attempt.
* Redirects are never followed (the token would go with them); bodies are capped and read streaming.
* Every answered request sets :data:`shipdeck.api.context.LAST_REQUEST_ID`.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipdeck import __version__
from shipdeck.api.base import new_idempotency_key
from shipdeck.api.context import (
    BACKGROUND_READ,
    CAPTURED_BODIES,
    CHANGE_REQUEST_ID,
    LAST_REPLAYED,
    LAST_REQUEST_ID,
    RESEND_GUARD,
    WRITE_ACCEPTED,
)
from shipdeck.api.errors import (
    ApiError,
    AuthError,
    BudgetReserved,
    Conflict,
    InvalidToken,
    NetworkError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ServerError,
    ShipdeckError,
    ValidationFailed,
)
from shipdeck.api.parsing import decode_json, optional_float, optional_int, parse_error_body
from shipdeck.config.profile import Secret

if TYPE_CHECKING:
    # Imported when the first request is made (httpx and tenacity: 40-70 ms), so that building an adapter
    # costs nothing before the console has painted its first frame.
    import httpx
    from tenacity import RetryCallState

USER_AGENT = f"shipdeck/{__version__}"
MAX_BODY_BYTES = 16 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 502, 503, 504})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A background read is refused while fewer requests than this share of the window are left.
BACKGROUND_RESERVE_FRACTION = 0.2
BACKGROUND_RESERVE_MIN = 5
# Rate-limit windows are per minute for every provider; after that the last figures are stale.
RATE_WINDOW_SECONDS = 60.0
MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True)
class RetryOptions:
    """The wait between attempts without a Retry-After: random in [0, multiplier * 2**attempt], capped."""

    backoff_multiplier: float = 0.25
    backoff_max: float = 8.0


DEFAULT_RETRY = RetryOptions()
# Said of a change whose answer never came back whole: the user must look before doing it again.
MAYBE_APPLIED = "the change may have been applied: check its state before trying again"

Notice = Callable[[str], None]


def mark_maybe_applied(exc: ShipdeckError) -> ShipdeckError:
    """Mark ``exc`` as the end of a change that may have been applied, and say so in its message (once)."""
    exc.maybe_applied = True
    if MAYBE_APPLIED not in exc.message:
        exc.message = f"{exc.message}; {MAYBE_APPLIED}"
    return exc


class RateBudget:
    """The rate-limit figures the server last sent (``X-RateLimit-Limit`` / ``-Remaining``)."""

    def __init__(self) -> None:
        self.limit: int | None = None
        self.remaining: int | None = None
        self.updated_at: float | None = None

    def update(self, headers: httpx.Headers) -> None:
        remaining = optional_int(headers.get("x-ratelimit-remaining"))
        limit = optional_int(headers.get("x-ratelimit-limit"))
        if remaining is None and limit is None:
            return
        if remaining is not None:
            self.remaining = max(remaining, 0)
        if limit is not None:
            self.limit = max(limit, 0)
        self.updated_at = time.monotonic()

    def reserve(self) -> int:
        if self.limit is None:
            return BACKGROUND_RESERVE_MIN
        return max(BACKGROUND_RESERVE_MIN, int(self.limit * BACKGROUND_RESERVE_FRACTION))

    def check_background(self) -> None:
        """Raise BudgetReserved when a background read would eat into the user's reserve."""
        if self.remaining is None or self.updated_at is None:
            return
        age = time.monotonic() - self.updated_at
        if age >= RATE_WINDOW_SECONDS or self.remaining >= self.reserve():
            return
        retry_in = RATE_WINDOW_SECONDS - age
        raise BudgetReserved(
            f"background refresh paused: {self.remaining} requests left in this window, "
            f"kept for your own actions (trying again in {retry_in:.0f} s)",
            remaining=self.remaining,
            retry_in=retry_in,
        )


class Transport:
    """One provider connection: a keep-alive httpx client plus the retry and error policy."""

    def __init__(
        self,
        base_url: str,
        token: Secret,
        *,
        provider: str,
        profile_name: str,
        on_notice: Notice | None = None,
        timeout: float = 15.0,
        deadline: float = 60.0,
        max_attempts: int = 5,
        max_body_bytes: int = MAX_BODY_BYTES,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryOptions | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry if retry is not None else DEFAULT_RETRY
        self.provider = provider
        self.profile_name = profile_name
        self.on_notice = on_notice
        self.timeout = timeout
        self.deadline = deadline
        self.max_attempts = max_attempts
        self.max_body_bytes = max_body_bytes
        self.budget = RateBudget()
        self._token = token
        self._extra_headers = dict(extra_headers or {})
        self._http: httpx.AsyncClient | None = None  # made for the first request

    @property
    def _client(self) -> httpx.AsyncClient:
        """The keep-alive client, made (and httpx imported) when the first request needs it."""
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(
                # Every request goes to base_url + path and no redirect is followed, so a plain http:// base
                # URL never speaks TLS: building the verifying context (loading the CA bundle: 25-60 ms of
                # the start) would be for nothing. An https:// base URL always verifies.
                verify=not self.base_url.lower().startswith("http://"),
                follow_redirects=False,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                limits=httpx.Limits(max_keepalive_connections=10, max_connections=20, keepalive_expiry=30.0),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json", **self._extra_headers},
            )
        return self._http

    def __repr__(self) -> str:
        return f"Transport({self.provider}, {self.base_url!r}, profile={self.profile_name!r})"

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    # -- public calls -----------------------------------------------------------------------------------
    async def get(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        background: bool = False,
        parse: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """The decoded JSON body; ``parse``: read the body's bytes straight into what the caller wants (a
        whole page of models, without the JSON values in between), or decline with None (then the body is
        decoded as usual). Not used inside captured_bodies(), which keeps the decoded body."""
        return await self.request("GET", path, params=params, background=background, parse=parse)

    async def mutate(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """A state-changing call: always keyed, so a retry cannot act twice."""
        return await self.request(
            method, path, json=json, params=params, idempotency_key=idempotency_key or new_idempotency_key()
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
        background: bool = False,
        parse: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """Send one call (with retries) and return the decoded JSON body (None for an empty body)."""
        method = method.upper()
        if background or (method in SAFE_METHODS and BACKGROUND_READ.get()):
            self.budget.check_background()
        headers: dict[str, str] = {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        retry_allowed = method in SAFE_METHODS or idempotency_key is not None
        what = f"{method} {path or '/'}"  # Mixpeek lists its apps at the base URL itself (path "")
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_before_delay

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts) | stop_before_delay(self.deadline),
            wait=self._wait,
            retry=retry_if_exception(worth_resending if retry_allowed else lambda _: False),
            before_sleep=self._announce_retry,
            reraise=True,
        )
        delivery = _Delivery()
        guard = RESEND_GUARD.get() if method not in SAFE_METHODS else None
        attempts = 0

        async def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and guard is not None:
                await guard()  # a change's retry: only while what it was planned from is still live
            return await self._attempt(method, path, params, json, headers, what, delivery, parse)

        try:
            async with asyncio.timeout(self.deadline):
                return await retrying(attempt)
        except TimeoutError:
            # An attempt cut by the deadline may have been sent already (not one still connecting).
            maybe = method not in SAFE_METHODS and (delivery.maybe or delivery.in_flight)
            unknown = f"; {MAYBE_APPLIED}" if maybe else ("" if method in SAFE_METHODS else "; not applied")
            error = NetworkError(
                f"{self.provider} gave no complete answer to {what} within {self.deadline:g} s{unknown}",
                retryable=False,
            )
            error.maybe_applied = maybe
            error.from_change_request = method not in SAFE_METHODS
            raise error from None
        except ShipdeckError as exc:
            if method not in SAFE_METHODS:
                exc.from_change_request = True
                if delivery.maybe:
                    mark_maybe_applied(exc)
            raise

    @asynccontextmanager
    async def open_stream(
        self, path: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """Open a long-lived streaming GET (SSE); an error status is raised as a typed error at once."""
        import httpx

        what = f"GET {path or '/'}"
        request = self._build("GET", path, params, None, dict(headers or {}))
        # No read timeout on a stream: the caller's heartbeat watchdog judges silence. The per-request one
        # (15 s) equals a usual heartbeat interval and cut a healthy idle stream every 15-30 s.
        request.extensions["timeout"] = httpx.Timeout(self.timeout, read=None).as_dict()
        try:
            async with asyncio.timeout(self.timeout * 2):
                response = await self._client.send(request, stream=True)
        except TimeoutError:
            raise NetworkError(f"{self.provider} did not open the stream {what} in time") from None
        except httpx.HTTPError as exc:
            raise self._network_error(exc, what) from None
        try:
            self._note_answer(response)
            if response.status_code >= 300:
                raw = await self._read_capped(response, what)
                raise self._status_error(response, raw, what)
            yield response
        finally:
            await response.aclose()

    def ws_headers(self) -> dict[str, str]:
        """Headers for a WebSocket upgrade to the same provider."""
        return {"Authorization": self._authorization()}

    def _authorization(self) -> str:
        """The bearer header value: the one place the token is revealed."""
        token = self._token.reveal()
        if not token or not token.isascii() or not token.isprintable() or " " in token:
            raise InvalidToken(
                f"the token of profile {self.profile_name} is empty or has characters that cannot be sent "
                "in a header (spaces, line breaks, non-ASCII); check how it was copied"
            )
        return f"Bearer {token}"

    def token_has_prefix(self, prefix: str) -> bool:
        """Whether the token is of a kind (``mt_test_``: a Miteos sandbox key), without revealing it."""
        return self._token.reveal().startswith(prefix)

    def redact(self, text: str) -> str:
        """``text`` with the token masked, for anything that might echo it (a hostile server's message)."""
        secret = self._token.reveal()
        return text.replace(secret, "****") if secret else text

    def notice(self, text: str) -> None:
        if self.on_notice is not None:
            self.on_notice(text)

    @property
    def host(self) -> str:
        import httpx

        return httpx.URL(self.base_url).host

    # -- one attempt --------------------------------------------------------------------------------------
    def _build(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: dict[str, str],
    ) -> httpx.Request:
        import httpx

        clean_params = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        headers = {**headers, "Authorization": self._authorization()}
        try:
            return self._client.build_request(
                method, self.base_url + path, params=clean_params, json=json, headers=headers
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            raise NetworkError(
                f"cannot call {self.provider} at {self.base_url!r}: {exc.__class__.__name__}", retryable=False
            ) from None

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: dict[str, str],
        what: str,
        delivery: _Delivery,
        parse: Callable[[bytes], Any] | None = None,
    ) -> Any:
        import httpx

        request = self._build(method, path, params, json, headers)
        sending = _Sending(delivery)
        # httpcore says when it starts writing the request: until then (waiting for the pool, connecting)
        # nothing can have reached the server, even if the deadline cuts the attempt.
        request.extensions["trace"] = sending.trace
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            # A failure to connect sent nothing; any later one may have delivered the request.
            connect_failure = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            if sending.started and not connect_failure:
                delivery.maybe = True
            raise self._network_error(exc, what) from None
        except asyncio.CancelledError:
            # The deadline (or a quit) cut this attempt: once writing had started, the server may have it.
            if sending.started:
                delivery.maybe = True
            raise
        finally:
            delivery.in_flight = False
        try:
            self._note_answer(response)
            raw = await self._read_capped(response, what)
        except (ShipdeckError, asyncio.CancelledError):
            # The server answered, so it had the request: an answer cut (by the deadline too) is unknown.
            delivery.maybe = True
            raise
        finally:
            await response.aclose()
        if response.status_code >= 300:
            if response.status_code >= 500 or response.status_code < 400:
                # The server, or the service behind a gateway, may have acted before failing (even a 503
                # from a gateway can follow a commit upstream), and one that redirects has the request as
                # well (it is not followed: the token would go with it); a 4xx, 429 included, took nothing.
                delivery.maybe = True
            raise self._status_error(response, raw, what)
        if method not in SAFE_METHODS:
            WRITE_ACCEPTED.set(True)
            CHANGE_REQUEST_ID.set(response.headers.get("x-request-id"))
        if parse is not None and CAPTURED_BODIES.get() is None:
            parsed = parse(raw)
            if parsed is not None:
                return parsed
        try:
            body = decode_json(raw, what=f"{self.provider} {what}")
            if (capture := CAPTURED_BODIES.get()) is not None:
                capture.append((method, path, body))
            return body
        except ProtocolError as exc:
            if method in SAFE_METHODS:
                raise
            # The server took the change and answered 2xx; only the answer is unreadable.
            delivery.maybe = True
            raise ProtocolError(f"{exc.message}; {MAYBE_APPLIED}", request_id=exc.request_id) from None

    async def _read_capped(self, response: httpx.Response, what: str) -> bytes:
        import httpx

        declared = optional_int(response.headers.get("content-length"))
        if declared is not None and declared > self.max_body_bytes:
            raise ProtocolError(self._too_big(what))
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise ProtocolError(self._too_big(what))
                chunks.append(chunk)
        except httpx.DecodingError:
            raise ProtocolError(f"{self.provider} {what}: the answer's encoding is broken") from None
        except httpx.HTTPError as exc:
            raise self._network_error(exc, what) from None
        return b"".join(chunks)

    def _too_big(self, what: str) -> str:
        return f"{self.provider} {what}: the answer is larger than {self.max_body_bytes // (1024 * 1024)} MiB"

    def _note_answer(self, response: httpx.Response) -> None:
        LAST_REQUEST_ID.set(response.headers.get("x-request-id"))
        if response.request.method not in SAFE_METHODS:
            # A read after the change (Mixpeek re-reads the app) must not clear what its answer said.
            LAST_REPLAYED.set(response.headers.get("idempotency-replayed", "").lower() == "true")
        self.budget.update(response.headers)

    # -- errors ---------------------------------------------------------------------------------------------
    def _network_error(self, exc: httpx.HTTPError, what: str) -> NetworkError:
        import httpx

        tls = _tls_failure(exc)
        if tls is not None:
            # Another attempt meets the same certificate or the same plain-HTTP port: say so at once.
            reason = getattr(tls, "verify_message", None) or tls.reason or tls.__class__.__name__
            return NetworkError(
                f"{self.provider} {what}: TLS with {self.host} failed ({reason}); check that the server "
                "speaks https at this base_url and that its certificate is trusted",
                retryable=False,
            )
        if isinstance(exc, httpx.TimeoutException):
            kind = "timed out"
        elif isinstance(exc, httpx.ConnectError):
            kind = "could not connect"
        elif isinstance(exc, httpx.RemoteProtocolError):
            kind = "connection closed before the answer"
        elif isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return NetworkError(f"cannot call {self.provider}: {self.redact(str(exc))}", retryable=False)
        else:
            kind = "connection failed"
        return NetworkError(f"{self.provider} {what}: {kind} ({self.host})")

    def _status_error(self, response: httpx.Response, raw: bytes, what: str) -> ShipdeckError:
        status = response.status_code
        request_id = response.headers.get("x-request-id")
        if 300 <= status < 400:
            location = response.headers.get("location", "nowhere")
            return ProtocolError(
                f"{self.provider} {what} answered {status}, redirecting to {self.redact(location)!r}; "
                "shipdeck does not follow redirects (the token was not sent there) - check the base URL",
                request_id=request_id,
            )
        try:
            body = decode_json(raw, what=what)
        except ProtocolError:
            body = None
        info = parse_error_body(body)
        request_id = request_id or info.request_id
        retry_after = optional_float(response.headers.get("retry-after"))
        if retry_after is None:
            retry_after = info.retry_after
        server_says = self.redact(info.message) if info.message else None
        cls, message = self._describe(status, server_says, what)
        return cls(
            message,
            status=status,
            code=info.code,
            provider=self.provider,
            request_id=request_id,
            details=info.details,
            retry_after=retry_after,
        )

    def _describe(self, status: int, server_says: str | None, what: str) -> tuple[type[ApiError], str]:
        """The error class and a message a tired human understands."""
        said = f": {server_says}" if server_says else ""
        profile = f"profile {self.profile_name}"
        if status == 401:
            return AuthError, f"token rejected (401) for {profile}{said}"
        if status == 403:
            return (
                PermissionDenied,
                f"not allowed (403) for {profile}{said or ': the token lacks permission'}",
            )
        if status == 404:
            return NotFound, f"{server_says or 'not found'} (404)"
        if status == 409:
            return Conflict, f"{server_says or f'{what} conflicts with the current state'} (409)"
        if status in (400, 422):
            return ValidationFailed, f"{server_says or f'{what} was refused as invalid'} ({status})"
        if status == 429:
            return RateLimited, f"rate limited by {self.provider} (429){said}"
        if status >= 500:
            return ServerError, f"{self.provider} server error ({status}) on {what}{said}"
        return ApiError, f"{server_says or f'{what} failed'} ({status})"

    # -- retry policy ---------------------------------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        from tenacity import wait_random_exponential

        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ApiError) and exc.retry_after is not None and exc.retry_after >= 0:
            return min(exc.retry_after, MAX_RETRY_AFTER)
        return float(
            wait_random_exponential(multiplier=self.retry.backoff_multiplier, max=self.retry.backoff_max)(
                state
            )
        )

    def _announce_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.upcoming_sleep
        when = f"{delay:.0f} s" if delay >= 1 else "a moment"
        if isinstance(exc, RateLimited):
            self.notice(f"rate limited, retrying in {when}")
        elif isinstance(exc, ServerError):
            self.notice(f"{self.provider} is unavailable ({exc.status}), retrying in {when}")
        else:
            self.notice(f"connection to {self.provider} lost, retrying in {when}")


class _Delivery:
    """Whether any attempt of one call may have reached the server (for a change: may have been applied)."""

    __slots__ = ("in_flight", "maybe")

    def __init__(self) -> None:
        self.maybe = False
        self.in_flight = False


class _Sending:
    """One attempt's progress, from httpcore's trace events: has it started to write the request?"""

    __slots__ = ("delivery", "started")

    def __init__(self, delivery: _Delivery) -> None:
        self.delivery = delivery
        self.started = False

    async def trace(self, event: str, info: Mapping[str, Any]) -> None:
        # http11.send_request_headers.started, http2.send_request_headers.started
        if event.endswith("send_request_headers.started"):
            self.started = True
            self.delivery.in_flight = True


def worth_resending(exc: BaseException) -> bool:
    """A request failure another attempt may cure: the connection, 429, 502, 503, 504."""
    if isinstance(exc, NetworkError):
        return exc.retryable
    return isinstance(exc, ApiError) and exc.status in RETRY_STATUSES


def worth_reconnecting(exc: BaseException) -> bool:
    """A stream failure a reconnect may cure: as for requests, plus any 5xx (a stream resumes safely)."""
    return worth_resending(exc) or (isinstance(exc, ServerError) and exc.status >= 500)


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a connection failure, if that is what it was."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
